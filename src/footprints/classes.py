"""The building classes of the Open AI Tanzania challenge, in model class-id order (0 is background)."""

CLASS_NAMES: tuple[str, ...] = ("complete", "incomplete", "foundation")
NUM_CLASSES = len(CLASS_NAMES) + 1


def class_name(class_id: int) -> str:
    """Name of a 1-based class id."""
    return CLASS_NAMES[class_id - 1]

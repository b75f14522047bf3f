"""Where a model's weights came from and what its scores rest on, in words for the report and model card.

``provenance`` is the dict the training node returns (``footprints.pipelines.training.nodes.provenance``),
also stored in the weights file's config under ``training`` so it travels with the weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Below this many training building instances, a model started from random weights cannot be expected to find
# buildings on unseen ground (the challenge's winners trained on tens of thousands, from ImageNet/COCO weights).
FEW_INSTANCES = 10_000


def untrained_warning(provenance: Mapping[str, Any] | None) -> str | None:
    """One sentence saying why the scores are near zero, when the weights started from scratch on little data."""
    if not provenance or provenance.get("weights_origin") != "scratch":
        return None
    if provenance.get("train_instances", 0) >= FEW_INSTANCES:
        return None
    return (f"This model started from random weights and learnt from only {provenance['train_instances']} "
            f"building instances in {provenance['training_seconds'] / 60:.1f} min on {provenance['device']}, "
            "so scores near zero are expected: to find buildings it needs COCO weights placed in the torch cache "
            "($TORCH_HOME/hub/checkpoints, then `pretrained: auto` uses them), thousands of labelled buildings, "
            "and a GPU to train on them.")


def provenance_lines(provenance: Mapping[str, Any] | None) -> list[str]:
    """Bullet lines: weights origin, training data, validation data, time, data fingerprint."""
    if not provenance:
        return ["- Weights: unknown (the weights file records no training provenance: trained before it was "
                "recorded, or not by the training pipeline)."]
    p = provenance
    return [
        f"- Weights: {p['arch']} started from {p['weights_origin']}, trained {p['epochs']} epochs in "
        f"{p['training_seconds'] / 60:.1f} min on {p['device']}.",
        f"- Trained on {p['train_tiles']} tiles holding {p['train_instances']} building instances (a building cut "
        f"by a tile edge counts once per tile) of {_names(p['train_images'])}.",
        f"- Validation (loss curves) on {p['val_tiles']} tiles holding {p['val_instances']} building instances of "
        f"{_names(p['val_images'])}.",
        f"- Training data fingerprint: `{p['data_fingerprint']}`.",
    ]


def provenance_section(provenance: Mapping[str, Any] | None, scored_images: Sequence[str], scored_tiles: int,
                       truth_buildings: int) -> str:
    """The report's "Training provenance" section: what the weights are and which images the scores cover."""
    lines = provenance_lines(provenance)
    lines.append(f"- Scores cover {scored_tiles} validation tiles of {_names(scored_images)} "
                 f"({truth_buildings} truth buildings).")
    warning = untrained_warning(provenance)
    return "## Training provenance\n\n" + ("**" + warning + "**\n\n" if warning else "") + "\n".join(lines)


def model_card(config: Mapping[str, Any], class_names: Sequence[str], scores: Mapping[str, float] | None) -> str:
    """A registered model version's description: classes, bands, normalisation, training data, held-out scores."""
    provenance = config.get("training")
    held_out = ("\n".join(f"- {name}: {value:.3f}" for name, value in sorted(scores.items()))
                if scores else "- not scored in the run that trained it (run the reporting pipeline)")
    warning = untrained_warning(provenance)
    return "\n".join([
        f"Mask R-CNN ({config['arch']}) for building footprints, {config['tile_size']} px tiles.",
        f"- Classes: {', '.join(class_names)} (ids 1..{len(class_names)}, 0 is background).",
        f"- Input bands (1-based): {list(config['bands'])}; normalisation (pixel - mean) / std with mean "
        f"{list(config['mean'])} and std {list(config['std'])} in raw pixel units.",
        *provenance_lines(provenance),
        "", "Held-out scores (validation tiles, F1 at IoU 0.5 after the cross-tile merge; COCO mask AP):",
        held_out,
        *(["", warning] if warning else []),
    ])


def _names(images: Sequence[str]) -> str:
    images = list(images)
    if not images:
        return "no image"
    shown = ", ".join(images[:8]) + (f" and {len(images) - 8} more" if len(images) > 8 else "")
    return f"{len(images)} image{'s' if len(images) != 1 else ''} ({shown})"

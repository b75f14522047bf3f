"""Mask R-CNN for building footprints in plain PyTorch: no Kedro, so it also runs from a notebook.

Typical use: ``build_model`` -> ``TileDataset`` + ``collate_fn`` in DataLoaders (``split_train_val`` picks the
tiles) -> ``fit`` -> ``save_weights``; later ``build_model(weights_path=...)`` -> ``predict_tiles``.

Import cost: torch, torchvision and MLflow take seconds and most of a gigabyte to import, and Kedro imports
every pipeline's nodes (pipeline discovery) and builds every catalog dataset (kedro-mlflow's hook) on each
``kedro run``, even of the preprocessing pipeline. So this package loads its submodules on first use (the
names below resolve lazily, PEP 562); ``split``, ``weights`` and ``mlflow_model`` import torch only inside
the functions that need it, so nodes and datasets may import them (and their types, which Kedro resolves)
at module level; torch-bound code (``build``, ``data``, ``engine``, ``predict``, COCO AP) is imported
inside the functions that run the model. ``tests/test_startup.py`` checks that pipeline discovery and a
preprocessing run stay free of torch.
"""

from footprints.lazy import lazy_exports

_EXPORTS = {
    ".build": ["ARCHITECTURES", "build_model"],
    ".data": ["TileDataset", "TileSample", "boxes_from_masks", "collate_fn"],
    ".engine": ["NonFiniteLossError", "fit", "resolve_device", "seed_everything", "train_one_epoch",
                "validation_losses"],
    ".normalize": ["Normalizer"],
    ".predict": ["Instance", "predict_tiles"],
    ".split": ["split_train_val"],
    ".weights": ["ModelWeights", "WeightsError", "load_weights", "read_weights", "save_weights"],
    "footprints.classes": ["CLASS_NAMES", "NUM_CLASSES"],
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

"""Mask R-CNN for building footprints in plain PyTorch: no Kedro, so it also runs from a notebook.

Typical use: ``build_model`` -> ``TileDataset`` + ``collate_fn`` in DataLoaders (``split_train_val`` picks the
tiles) -> ``fit`` -> ``save_weights``; later ``build_model(weights_path=...)`` -> ``predict_tiles``.
"""

from .build import ARCHITECTURES, build_model
from footprints.classes import CLASS_NAMES, NUM_CLASSES
from . import distributed
from .data import TileDataset, TileSample, boxes_from_masks, collate_fn, split_train_val
from .engine import (
    NonFiniteLossError,
    fit,
    resolve_device,
    seed_everything,
    train_one_epoch,
    validation_losses,
)
from .normalize import Normalizer
from .predict import Instance, predict_tiles
from .weights import ModelWeights, WeightsError, load_weights, read_weights, save_weights

__all__ = [
    "ARCHITECTURES",
    "CLASS_NAMES",
    "NUM_CLASSES",
    "Instance",
    "ModelWeights",
    "NonFiniteLossError",
    "Normalizer",
    "TileDataset",
    "TileSample",
    "WeightsError",
    "boxes_from_masks",
    "build_model",
    "collate_fn",
    "distributed",
    "fit",
    "load_weights",
    "predict_tiles",
    "read_weights",
    "resolve_device",
    "save_weights",
    "seed_everything",
    "split_train_val",
    "train_one_epoch",
    "validation_losses",
]

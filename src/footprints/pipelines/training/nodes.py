"""Nodes of the training pipeline: thin wrappers around ``footprints.model``, which holds the real work."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from footprints.datasets.masks import InstanceMasks
from footprints.datasets.raster import Raster
from footprints.errors import InputError
from footprints.model import TileDataset, TileSample, build_model, collate_fn, distributed, fit, resolve_device, \
    seed_everything
from footprints.model.mlflow_model import BuildingDetector
from footprints.model.weights import ModelWeights

log = logging.getLogger(__name__)

MODEL_CONFIG_KEYS = ("arch", "bands", "mean", "std")  # plus the tile size, read off the tiles
NODATA = float("nan")  # see tile_pixels


def train_model(tiles: dict[str, Callable[[], Raster]], instance_masks: dict[str, Callable[[], InstanceMasks]],
                tile_split: pd.DataFrame, initial_weights: ModelWeights | None, params: dict[str, Any]
                ) -> tuple[ModelWeights, pd.DataFrame, dict[str, list[dict[str, float]]]]:
    """Train Mask R-CNN; return the weights (with their config), the per-epoch history and MLflow metrics.

    ``initial_weights`` (fine-tuning, resuming) comes from ``--params init_model_uri=<file or MLflow URI>``;
    without it the start is COCO or scratch, per ``params.pretrained``. Under ``torchrun`` every process
    trains its share of each batch (docs/training_distributed.md) and returns the same history.
    """
    with distributed.process_group(resolve_device(params["device"])) as device:
        return _train(tiles, instance_masks, tile_split, initial_weights, params, device)


def _train(tiles: dict[str, Callable[[], Raster]], instance_masks: dict[str, Callable[[], InstanceMasks]],
           tile_split: pd.DataFrame, initial_weights: ModelWeights | None, params: dict[str, Any],
           device: torch.device) -> tuple[ModelWeights, pd.DataFrame, dict[str, list[dict[str, float]]]]:
    seed_everything(params["seed"] + distributed.rank())  # own augmentations and RoI samples per process
    torch.set_num_threads(params.get("torch_threads") or torch.get_num_threads())
    loaders = {split: _loader(tiles, instance_masks, tile_split, split, params) for split in ("train", "val")}
    used = tile_split[tile_split.split.isin(["train", "val"])]
    tile_size = check_tiles(tiles, used, params["bands"], "training.bands")
    start = {"state_dict": initial_weights.state_dict, "weights_name": initial_weights.source} \
        if initial_weights is not None else {}
    model = build_model(arch=params["arch"], tile_size=tile_size, pretrained=params["pretrained"],
                        in_channels=len(params["bands"]), **start)
    history = fit(model, loaders["train"], loaders["val"], epochs=params["epochs"], lr=params["lr"],
                  weight_decay=params["weight_decay"], device=device, optimizer=params["optimizer"],
                  schedule=params["schedule"], amp=params["amp"], max_grad_norm=params["max_grad_norm"])
    frame = pd.DataFrame(history).assign(epoch=range(1, len(history) + 1))
    config = {"tile_size": tile_size, **{k: params[k] for k in MODEL_CONFIG_KEYS}}
    return ModelWeights(model.state_dict(), config), frame, _metrics_history(history)


def _loader(tiles, instance_masks, tile_split: pd.DataFrame, split: str, params: dict[str, Any]) -> DataLoader:
    ids = tile_split.tile_id[tile_split.split == split].tolist()
    if not ids:
        raise InputError(f"no {split} tiles: no tile has labels (see label_report.csv) or "
                         "labels.split.val_fraction leaves none; add labelled imagery or change it")
    samples = [TileSample(t, partial(tile_pixels, tiles[t]), partial(_instances, instance_masks[t]), NODATA)
               for t in ids]
    dataset = TileDataset(samples, params["bands"], params["mean"], params["std"], augment=split == "train")
    share = distributed.sampler(dataset, shuffle=split == "train", seed=params["seed"])
    return DataLoader(dataset, batch_size=params["batch_size"], shuffle=split == "train" and share is None,
                      sampler=share, num_workers=params["num_workers"], collate_fn=collate_fn,
                      generator=torch.Generator().manual_seed(params["seed"] + distributed.rank()))


def check_tiles(tiles: dict[str, Callable[[], Raster]], rows: pd.DataFrame, bands: list[int], setting: str) -> int:
    """The tile size, and a band setting the imagery cannot satisfy caught before any training starts.

    One tile per image is enough: all tiles of an image share bands, and all tiles share the tiling.
    """
    sizes = set()
    for tile_id in rows.groupby("image_id").tile_id.first():
        count, height, width = tiles[tile_id]().array.shape
        if max(bands) > count:
            raise InputError(f"{setting} {list(bands)} asks for band {max(bands)} but tile {tile_id} has {count} "
                             f"band(s): set {setting} (and its mean/std) in conf/base/parameters_training.yml")
        sizes.add(width)
    return sizes.pop() if sizes else 0


def tile_pixels(load: Callable[[], Raster]) -> np.ndarray:
    """Tile pixels as float32 with NaN where the tile's mask says no data (nodata or padding past the edge).

    NaN is the nodata value handed to the model's normaliser, which sets those pixels to 0 (the data mean),
    whether the raster declares a nodata value or only a GDAL mask.
    """
    raster = load()
    pixels = raster.array.astype(np.float32)
    if raster.mask is not None:
        pixels[:, raster.mask == 0] = np.nan
    return pixels


def _instances(load: Callable[[], InstanceMasks]):
    masks = load()
    return masks.masks, masks.class_ids


def _metrics_history(history: list[dict[str, float]]) -> dict[str, list[dict[str, float]]]:
    """Per-epoch metrics in the shape kedro-mlflow's MlflowMetricsHistoryDataset logs, step = epoch."""
    return {name: [{"step": epoch, "value": float(row[name])} for epoch, row in enumerate(history, start=1)]
            for name in history[0]}


def package_model(model_weights: ModelWeights) -> BuildingDetector:
    """The MLflow pyfunc wrapper logged (and registered) next to the weights, which it takes as an artifact."""
    return BuildingDetector()

"""Nodes of the training pipeline: thin wrappers around ``footprints.model``, which holds the real work."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from footprints.datasets.masks import InstanceMasks
from footprints.datasets.raster import Raster
from footprints.errors import InputError
from footprints.evaluation.provenance import untrained_warning
from footprints.model.weights import ModelWeights
from footprints.tile_data import NODATA, check_training_bands, image_shapes, tile_pixels

if TYPE_CHECKING:  # torch is imported by the functions that run the model (see footprints.model)
    import torch
    from torch.utils.data import DataLoader

log = logging.getLogger(__name__)

MODEL_CONFIG_KEYS = ("arch", "bands", "mean", "std", "input_scale")  # plus the tile size, read off the tiles


def train_model(tiles: dict[str, Callable[[], Raster]], instance_masks: dict[str, Callable[[], InstanceMasks]],
                tile_split: pd.DataFrame, initial_weights: ModelWeights | None, starter_model: ModelWeights | None,
                params: dict[str, Any]
                ) -> tuple[ModelWeights, pd.DataFrame, dict[str, list[dict[str, float]]], dict[str, Any]]:
    """Train Mask R-CNN; return the weights (with their config), the per-epoch history, MLflow metrics and
    the training provenance (where the weights started, what they learnt from: see ``provenance``).

    ``initial_weights`` (fine-tuning, resuming) comes from ``--params init_model_uri=<file or MLflow URI>``;
    without it ``pretrained: auto`` starts from COCO (when cached), else the shipped ``starter_model`` of the
    same architecture, else scratch (``footprints.model.start``). Under ``torchrun`` every process trains its
    share of each batch (docs/training_distributed.md) and returns the same history.
    """
    from footprints.model import distributed, resolve_device
    from footprints.model.start import start_weights

    start = start_weights(initial_weights, starter_model, params)
    with distributed.process_group(resolve_device(params["device"])) as device:
        return _train(tiles, instance_masks, tile_split, start, params, device)


def _train(tiles: dict[str, Callable[[], Raster]], instance_masks: dict[str, Callable[[], InstanceMasks]],
           tile_split: pd.DataFrame, initial_weights: ModelWeights | None, params: dict[str, Any],
           device: torch.device) -> tuple[ModelWeights, pd.DataFrame, dict[str, list[dict[str, float]]], dict]:
    import torch

    from footprints.model import build_model, distributed, fit, seed_everything

    seed_everything(params["seed"] + distributed.rank())  # own augmentations and RoI samples per process
    torch.set_num_threads(params.get("torch_threads") or torch.get_num_threads())
    loaders = {split: _loader(tiles, instance_masks, tile_split, split, params) for split in ("train", "val")}
    used = tile_split[tile_split.split.isin(["train", "val"])]
    tile_size = check_training_bands(image_shapes(tiles, used), params["bands"])
    start = {"state_dict": initial_weights.state_dict, "weights_name": initial_weights.source} \
        if initial_weights is not None else {}
    model = build_model(arch=params["arch"], tile_size=tile_size, pretrained=params["pretrained"],
                        in_channels=len(params["bands"]), input_scale=params["input_scale"], **start)
    log.info("training %s on %s; start: %s", params["arch"], device, model.weights_origin)
    start_id = initial_weights.fingerprint if initial_weights is not None else model.weights_origin
    checkpoint = training_checkpoint(params, tile_split, start_id, tile_size)
    config = {"tile_size": tile_size, **{k: params[k] for k in MODEL_CONFIG_KEYS}}
    history = fit(model, loaders["train"], loaders["val"], epochs=params["epochs"], lr=params["lr"],
                  weight_decay=params["weight_decay"], device=device, optimizer=params["optimizer"],
                  schedule=params["schedule"], amp=params["amp"], max_grad_norm=params["max_grad_norm"],
                  checkpoint=checkpoint, on_epoch_end=_snapshots(model, config, checkpoint, params))
    frame = pd.DataFrame(history).assign(epoch=range(1, len(history) + 1))
    trained = provenance(model.weights_origin, tile_split, history, params, str(device))
    log.info("trained on %(train_tiles)d tiles (%(train_instances)d building instances) of %(train_images)s "
             "in %(training_seconds).0f s", trained)
    if warning := untrained_warning(trained):
        log.warning(warning)
    config = {**config, "training": trained}
    if checkpoint is not None and distributed.is_main_process():
        checkpoint.remove()
    return ModelWeights(model.state_dict(), config), frame, _metrics_history(history), trained


def _snapshots(model: Any, config: dict[str, Any], checkpoint: Any, params: dict[str, Any]
               ) -> Callable[[int, dict[str, float]], None] | None:
    """With ``snapshot_every: N``, the weights after every N-th epoch beside the checkpoint
    (``<identity>_epoch<N>.safetensors``): a learning curve scores them afterwards."""
    every = params.get("snapshot_every")
    if not every or checkpoint is None:
        return None
    from footprints.model.weights import save_weights

    def save(epoch: int, metrics: dict[str, float]) -> None:
        if epoch % every == 0:
            path = checkpoint.path.with_name(f"{checkpoint.identity}_epoch{epoch:03d}.safetensors")
            save_weights(ModelWeights(model.state_dict(), {**config, "epoch": epoch}), path)

    return save


def training_checkpoint(params: dict[str, Any], tile_split: pd.DataFrame, start: str, tile_size: int) -> Any:
    """The epoch checkpoint of this run, named by what determines its result: the parameters (but speed
    settings), the training data and the start (``start``: the fingerprint of the weights fine-tuned from, or
    the origin of the others, which the seed among the parameters makes the same in every process).
    ``None`` when ``checkpoint_dir`` is null."""
    if not params.get("checkpoint_dir"):
        return None
    from footprints.model.checkpoint import Checkpoint, run_params

    kept = run_params(params)
    data = provenance("", tile_split, [], params, "")["data_fingerprint"]
    identity = hashlib.sha256(repr((sorted(kept.items()), tile_size, data, start)).encode()).hexdigest()[:16]
    return Checkpoint(params["checkpoint_dir"], identity, kept)


def provenance(weights_origin: str, tile_split: pd.DataFrame, history: list[dict[str, float]],
               params: dict[str, Any], device: str) -> dict[str, Any]:
    """What a reader of the run, the report or the model card needs to judge the scores.

    Where the weights started, how many tiles and building instances (a building cut by a tile edge counts
    once per tile) the model learnt from and on which images, what it was validated on, how long it trained,
    and a fingerprint of that data (image contents, tiles, split).
    """
    def part(split: str) -> pd.DataFrame:
        return tile_split[tile_split.split == split]

    train, val = part("train"), part("val")
    used = tile_split[tile_split.split.isin(["train", "val"])].sort_values("tile_id")
    data = used[["tile_id", "split", "n_instances", "image_sha256"]].astype(str).to_csv(index=False)
    return {
        "weights_origin": weights_origin,
        "arch": params["arch"],
        "device": device,
        "epochs": len(history),
        "train_tiles": len(train),
        "train_instances": int(train.n_instances.sum()),
        "train_images": sorted(train.image_id.unique()),
        "val_tiles": len(val),
        "val_instances": int(val.n_instances.sum()),
        "val_images": sorted(val.image_id.unique()),
        "training_seconds": round(sum(row["epoch_seconds"] for row in history), 1),
        "data_fingerprint": hashlib.sha256(data.encode()).hexdigest()[:16],
    }


def _loader(tiles, instance_masks, tile_split: pd.DataFrame, split: str, params: dict[str, Any]) -> DataLoader:
    import torch
    from torch.utils.data import DataLoader, Subset

    from footprints.model import TileDataset, TileSample, collate_fn, distributed

    ids = tile_split.tile_id[tile_split.split == split].tolist()
    if not ids:
        raise InputError(f"no {split} tiles: no tile has labels (see label_report.csv) or "
                         "labels.split.val_fraction leaves none; add labelled imagery or change it")
    samples = [TileSample(t, partial(tile_pixels, tiles[t]), partial(_instances, instance_masks[t]), NODATA)
               for t in ids]
    dataset = TileDataset(samples, params["bands"], params["mean"], params["std"],
                          augment=split == "train" and params["augment"])
    generator = torch.Generator().manual_seed(params["seed"] + distributed.rank())
    sampler = None
    if split == "train" and params.get("samples_per_epoch") and distributed.world_size() == 1:
        # an epoch of a few hundred random tiles: a CPU can take many short epochs over a large tile set
        sampler = _epoch_sampler(tile_split.set_index("tile_id").n_instances.loc[ids].to_numpy(), params,
                                 generator)
    if split == "val" and params.get("val_loss_tiles"):
        # the per-epoch validation loss on a fixed random subset: the same tiles every epoch, comparable
        keep = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(params["seed"]))
        dataset = Subset(dataset, keep[: params["val_loss_tiles"]].tolist())
    # under torchrun each process takes its share (samples_per_epoch applies to one process only)
    sampler = distributed.sampler(dataset, shuffle=split == "train", seed=params["seed"]) or sampler
    return DataLoader(dataset, batch_size=params["batch_size"], shuffle=split == "train" and sampler is None,
                      sampler=sampler, num_workers=params["num_workers"], collate_fn=collate_fn,
                      generator=generator)


def _epoch_sampler(instances: Any, params: dict[str, Any], generator: torch.Generator) -> Any:
    """``samples_per_epoch`` random tiles; with ``empty_tile_weight`` below 1, tiles without buildings are
    drawn that much less often than tiles with some (drawn with replacement, as weights require).

    Open labels (OpenStreetMap) often leave buildings untraced: an empty tile may teach the model to miss a
    real building, and on a CPU every step spent on bare ground is a step not spent on buildings."""
    import torch
    from torch.utils.data import RandomSampler, WeightedRandomSampler

    count = params["samples_per_epoch"]
    weight = params.get("empty_tile_weight", 1.0)
    if weight == 1.0:
        return RandomSampler(range(len(instances)), num_samples=min(count, len(instances)), generator=generator)
    weights = torch.tensor([1.0 if n > 0 else float(weight) for n in instances])
    if not weights.any():  # no tile has buildings: every tile alike
        weights = torch.ones(len(instances))
    return WeightedRandomSampler(weights, num_samples=count, replacement=True, generator=generator)


def _instances(load: Callable[[], InstanceMasks]):
    masks = load()
    return masks.masks, masks.class_ids


def _metrics_history(history: list[dict[str, float]]) -> dict[str, list[dict[str, float]]]:
    """Per-epoch metrics in the shape kedro-mlflow's MlflowMetricsHistoryDataset logs, step = epoch."""
    return {name: [{"step": epoch, "value": float(row[name])} for epoch, row in enumerate(history, start=1)]
            for name in history[0]}


def package_model(model_weights: ModelWeights) -> Any:
    """The MLflow pyfunc wrapper (a ``BuildingDetector``) logged and registered next to the weights, which it
    takes as an artifact.

    Imported here, and not named in the annotation (Kedro resolves node annotations): MLflow (1.1 s, 140 MB)
    would otherwise load with the pipeline registry on every run."""
    from footprints.model.mlflow_model import BuildingDetector

    return BuildingDetector()

"""Run a trained model over tiles and hand back building instances as numpy masks with per-class scores."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from footprints.classes import CLASS_NAMES
from .engine import autocast_dtype
from .normalize import Normalizer


@dataclass(frozen=True)
class Instance:
    """A detected building: ``mask`` is H x W bool in tile pixels, ``class_id`` 1..3 as in ``CLASS_NAMES``."""

    mask: np.ndarray
    class_id: int
    score: float
    class_scores: dict[str, float]


def predict_tiles(
    model: nn.Module,
    images: Iterable[tuple[str, np.ndarray]],
    bands: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    batch_size: int = 4,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    nodata: float | None = None,
    progress: bool = True,
) -> Iterator[tuple[str, list[Instance]]]:
    """Yield ``(tile_id, instances)`` for each ``(tile_id, bands x H x W array)``, in input order.

    Tiles are read lazily and run ``batch_size`` at a time, so a whole raster never sits in memory.
    Detections scoring below ``score_threshold`` are dropped (the model itself already drops those below
    ``model.roi_heads.score_thresh``, 0.05 by default). Masks are cut to the pixels that hold data (``nodata``
    marks the others: padding past the image edge, nodata areas), and a detection left with an empty mask is
    dropped: nothing is ever found in padding.
    """
    normalizer = Normalizer(bands, mean, std)
    model.eval().to(device)
    amp_dtype = autocast_dtype(device)
    images = iter(images)
    with tqdm(desc="predict", unit="tile", disable=not progress, dynamic_ncols=True) as bar:
        while batch := list(islice(images, batch_size)):
            tile_ids = [tile_id for tile_id, _ in batch]
            valid = [normalizer.valid(image, nodata) for _, image in batch]
            tensors = [normalizer(image, nodata).to(device) for _, image in batch]
            outputs = _detect(model, tensors, amp_dtype, mask_threshold)
            # yield outside the inference/autocast contexts: they would leak into the caller's code
            for tile_id, output, has_data in zip(tile_ids, outputs, valid, strict=True):
                yield tile_id, _instances(output, score_threshold, has_data)
            bar.update(len(batch))


def _detect(
    model: nn.Module, images: list[torch.Tensor], amp_dtype: torch.dtype | None, mask_threshold: float
) -> list[dict[str, torch.Tensor]]:
    """A batch's detections on the CPU, scores in float32, masks made binary (N x H x W) before the copy."""
    with (
        torch.inference_mode(),
        torch.autocast(images[0].device.type, dtype=amp_dtype, enabled=amp_dtype is not None),
    ):
        outputs = model(images)
    for output in outputs:
        output["masks"] = output["masks"][:, 0] >= mask_threshold
    return [
        {
            key: value.float().cpu() if value.is_floating_point() else value.cpu()
            for key, value in output.items()
        }
        for output in outputs
    ]


def _instances(output: dict[str, torch.Tensor], score_threshold: float, valid: np.ndarray) -> list[Instance]:
    instances = []
    output["masks"] &= torch.from_numpy(valid)
    for mask, label, score, class_scores in zip(
        output["masks"],
        output["labels"],
        output["scores"],
        output["class_scores"],
        strict=True,
    ):
        if score < score_threshold or not mask.any():
            continue
        instances.append(
            Instance(
                mask=mask.numpy(),
                class_id=int(label),
                score=float(score),
                class_scores=dict(zip(CLASS_NAMES, class_scores.tolist(), strict=True)),
            )
        )
    return instances

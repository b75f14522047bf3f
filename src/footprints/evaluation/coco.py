"""COCO mask AP per tile: the score Mask R-CNN papers report, next to the building-level F1.

F1 judges the merged, georeferenced buildings; mask AP judges the raw model on the tiles it saw, over all
score thresholds, so it tells model quality apart from merge and threshold choices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch/torchmetrics are imported when AP is computed (see footprints.model)
    import torch

from footprints.classes import CLASS_NAMES

SUMMARY_KEYS = ("map", "map_50", "map_75", "mar_100")
TilePair = tuple[Mapping[str, object], Mapping[str, object]]


def mask_map(tiles: Iterable[TilePair], classes: Sequence[str] = CLASS_NAMES) -> dict[str, float]:
    """mAP@[.5:.95], AP50, AP75, AR@100 and ``map_<class>`` over all tiles, each tile one COCO image.

    Each item is (prediction, target): prediction has ``masks`` (N x H x W), ``scores`` (N) and ``labels``
    (N, class ids from 1 in the order of ``classes``); target has ``masks`` (M x H x W) and ``labels``.
    Masks are binary; any side may be arrays, lists or tensors (CPU or GPU), and an empty side any empty
    array. Values COCO leaves undefined (its -1: no ground truth at all, or none of a class) come back as
    NaN. With ground truth but no prediction in any tile every AP is 0; torchmetrics would say -1 there,
    because pycocotools cannot load an empty result set.
    """
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(iou_type="segm", class_metrics=True, backend="pycocotools")
    n_pred, truth_ids = 0, set()
    for pred, target in tiles:
        pair = _tensors(pred, target)
        if pair is not None:
            metric.update([pair[0]], [pair[1]])
            n_pred += len(pair[0]["labels"])
            truth_ids.update(pair[1]["labels"].tolist())
    if n_pred and truth_ids:
        return _floats(metric.compute(), classes)
    value = 0.0 if truth_ids else math.nan
    return {**dict.fromkeys(SUMMARY_KEYS, value),
            **{f"map_{name}": 0.0 if i in truth_ids else math.nan for i, name in enumerate(classes, start=1)}}


def _tensors(pred: Mapping[str, object], target: Mapping[str, object]) -> tuple[dict, dict] | None:
    """torchmetrics' input dicts for one tile, empty mask stacks shaped like the other side; None if both
    sides are empty (such a tile adds nothing to COCO AP)."""
    import torch

    labels, target_labels = _tensor(pred["labels"], torch.int64), _tensor(target["labels"], torch.int64)
    masks, target_masks = _tensor(pred["masks"], torch.bool), _tensor(target["masks"], torch.bool)
    if not len(labels) and not len(target_labels):
        return None
    size = (masks if len(labels) else target_masks).shape[-2:]
    return ({"masks": masks.reshape(len(labels), *size), "labels": labels,
             "scores": _tensor(pred["scores"], torch.float32)},
            {"masks": target_masks.reshape(len(target_labels), *size), "labels": target_labels})


def _tensor(values: object, dtype: torch.dtype) -> torch.Tensor:
    """A CPU tensor from an array, tensor or list; 1-D stays 1-D, masks keep their shape."""
    import torch

    tensor = torch.as_tensor(values, dtype=dtype).cpu()
    return tensor if dtype == torch.bool else tensor.reshape(-1)


def _floats(result: dict[str, torch.Tensor], classes: Sequence[str]) -> dict[str, float]:
    """Plain floats, COCO's -1 as NaN, and per-class AP under the class names."""
    per_class = dict(zip(result["classes"].reshape(-1).tolist(), result["map_per_class"].reshape(-1).tolist(),
                         strict=True))
    values = {**{key: float(result[key]) for key in SUMMARY_KEYS},
              **{f"map_{name}": per_class.get(i, -1.0) for i, name in enumerate(classes, start=1)}}
    return {key: math.nan if value < 0 else value for key, value in values.items()}

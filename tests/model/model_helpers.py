"""Helpers for the model tests: a synthetic tile, picklable samples, a small fast model."""

from __future__ import annotations

import functools

import numpy as np
import torch

from footprints.model import TileSample, build_model

TILE = 128
RGB_MEAN = (123.7, 116.3, 103.5)
RGB_STD = (58.4, 57.1, 57.4)
# (rows, cols, class id, brightness): one building of each class, each with its own grey so tests can
# check that the image still lies under its mask after augmentation.
RECTANGLES = (
    ((10, 30), (20, 50), 1, 200),
    ((60, 90), (70, 100), 2, 150),
    ((95, 120), (10, 40), 3, 100),
)


def constant(value):
    """A picklable loader: ``functools.partial(constant, x)`` returns ``x``."""
    return value


def synthetic_tile(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A uint8 RGB tile of dark noise with three flat rectangles, and their masks and class ids."""
    rng = np.random.default_rng(seed)
    image = rng.normal(40, 5, (3, TILE, TILE)).clip(0, 255).astype(np.uint8)
    masks = np.zeros((len(RECTANGLES), TILE, TILE), np.uint8)
    for index, ((r0, r1), (c0, c1), _, grey) in enumerate(RECTANGLES):
        masks[index, r0:r1, c0:c1] = 1
        image[:, r0:r1, c0:c1] = grey
    class_ids = np.array([class_id for _, _, class_id, _ in RECTANGLES])
    return image, masks, class_ids


def sample(tile_id: str = "t0", image=None, masks=None, class_ids=None, nodata=None) -> TileSample:
    default_image, default_masks, default_ids = synthetic_tile()
    image = default_image if image is None else image
    masks = default_masks if masks is None else masks
    class_ids = default_ids if class_ids is None else class_ids
    return TileSample(
        tile_id,
        functools.partial(constant, image),
        functools.partial(constant, (masks, class_ids)),
        nodata,
    )


def small_model(**kwargs) -> torch.nn.Module:
    """v1 Mask R-CNN from scratch on 128 px tiles, fewer proposals and RoI samples: short CPU steps."""
    model = build_model("maskrcnn_resnet50_fpn", tile_size=TILE, pretrained="none", **kwargs)
    model.rpn._pre_nms_top_n = {"training": 600, "testing": 300}
    model.rpn._post_nms_top_n = {"training": 300, "testing": 300}
    model.roi_heads.fg_bg_sampler.batch_size_per_image = 128
    return model

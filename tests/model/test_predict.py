"""Prediction: batched, in input order, instances as numpy masks with per-class scores."""

from __future__ import annotations

import numpy as np
import torch
from model_helpers import RGB_MEAN, RGB_STD, TILE, small_model, synthetic_tile

from footprints.model import CLASS_NAMES, Instance, predict_tiles


def test_predict_tiles_yields_instances_per_tile_in_order():
    model = small_model()
    model.roi_heads.score_thresh = 0.0  # an untrained model is unsure; keep some of its detections
    model.roi_heads.detections_per_img = 20
    tiles = [(f"t{i}", synthetic_tile(seed=i)[0]) for i in range(3)]
    predictions = predict_tiles(
        model,
        iter(tiles),
        bands=[1, 2, 3],
        mean=RGB_MEAN,
        std=RGB_STD,
        device=torch.device("cpu"),
        batch_size=2,
        score_threshold=0.0,
        progress=False,
    )
    tile_ids, instances = [], []
    for tile_id, found in predictions:
        # the generator is paused here: its inference mode must not hold the caller's code
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        tile_ids.append(tile_id)
        instances += found
    assert tile_ids == ["t0", "t1", "t2"]
    assert instances
    for instance in instances:
        assert isinstance(instance, Instance)
        assert instance.mask.dtype == np.bool_ and instance.mask.shape == (TILE, TILE) and instance.mask.any()
        assert set(instance.class_scores) == set(CLASS_NAMES)
        assert instance.class_scores[CLASS_NAMES[instance.class_id - 1]] == instance.score

import math

import numpy as np
import pytest
import torch

from footprints.evaluation import mask_map

SIZE = 32


def masks(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    """One boolean mask per (row0, row1, col0, col1) box."""
    stack = np.zeros((len(boxes), SIZE, SIZE), dtype=bool)
    for mask, (r0, r1, c0, c1) in zip(stack, boxes, strict=True):
        mask[r0:r1, c0:c1] = True
    return stack


BOXES = [(2, 12, 2, 12), (18, 28, 18, 28)]
TARGET = {"masks": masks(*BOXES), "labels": np.array([1, 2])}


def pred(boxes, labels, scores=None):
    return {"masks": masks(*boxes), "labels": np.array(labels, dtype=int),
            "scores": np.array(scores if scores is not None else [0.9] * len(boxes))}


NOTHING = {"masks": np.zeros((0,)), "labels": np.zeros((0,)), "scores": np.zeros((0,))}


def test_identical_masks_score_one_and_absent_class_is_nan():
    result = mask_map([(pred(BOXES, [1, 2]), TARGET)])
    assert (result["map"], result["map_50"], result["map_75"]) == (1.0, 1.0, 1.0)
    assert (result["map_complete"], result["map_incomplete"]) == (1.0, 1.0)
    assert math.isnan(result["map_foundation"])


def test_no_predictions_scores_zero():
    result = mask_map([(NOTHING, TARGET)])
    assert result["map"] == result["map_50"] == result["map_complete"] == 0.0
    assert math.isnan(result["map_foundation"])


def test_no_ground_truth_is_undefined():
    assert math.isnan(mask_map([(pred(BOXES, [1, 2]), NOTHING)])["map"])
    assert math.isnan(mask_map([])["map"])


def test_one_found_one_missed_matches_cocos_101_point_interpolation():
    # recall reaches 0.5 at precision 1: COCO's 101 recall points give 51/101, not 0.5
    # (the value torchmetrics 1.9 with pycocotools returns)
    target = {"masks": masks(*BOXES), "labels": np.array([1, 1])}
    result = mask_map([(pred(BOXES[:1], [1]), target)])
    assert result["map_50"] == pytest.approx(51 / 101, abs=1e-4)


def test_empty_tiles_and_tensor_inputs_are_accepted():
    both_empty = (NOTHING, {"masks": np.zeros((0,)), "labels": np.zeros((0,))})
    as_tensors = ({k: torch.as_tensor(v) for k, v in pred(BOXES, [1, 2]).items()},
                  {k: torch.as_tensor(v) for k, v in TARGET.items()})
    assert mask_map([both_empty, as_tensors, both_empty])["map"] == 1.0
    # a tile with truth and no predictions halves recall
    assert mask_map([as_tensors, (NOTHING, TARGET)])["map_50"] < 1.0


def test_map_falls_as_masks_drift_off_the_truth():
    shifted = ([(r0 + d, r1 + d, c0, c1) for r0, r1, c0, c1 in BOXES] for d in (0, 1, 2, 4, 8))
    drifted = [mask_map([(pred(boxes, [1, 2]), TARGET)])["map"] for boxes in shifted]
    assert drifted == sorted(drifted, reverse=True)
    assert drifted[0] == 1.0 and drifted[-1] < drifted[1]

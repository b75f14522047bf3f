"""Per-class scores: every detection carries its softmax row, and detections are exactly torchvision's."""

from __future__ import annotations

import pytest
import torch
from model_helpers import TILE, small_model
from torchvision.models.detection.roi_heads import RoIHeads


@pytest.fixture(scope="module")
def model():
    model = small_model().eval()
    model.roi_heads.score_thresh = 0.0  # an untrained model is unsure; keep its detections
    return model


def test_detections_carry_class_scores_consistent_with_scores_and_labels(model):
    torch.manual_seed(0)
    with torch.no_grad():
        (output,) = model([torch.randn(3, TILE, TILE)])
    count = len(output["boxes"])
    assert count > 0
    assert output["masks"].shape == (count, 1, TILE, TILE)
    class_scores = output["class_scores"]
    assert class_scores.shape == (count, 3)
    assert (class_scores >= 0).all() and (class_scores.sum(dim=1) <= 1 + 1e-5).all()
    assert torch.equal(class_scores[torch.arange(count), output["labels"] - 1], output["scores"])


def test_kept_detections_match_torchvision(model):
    torch.manual_seed(1)
    heads = model.roi_heads
    proposals = [torch.rand(200, 2) * 100, torch.rand(150, 2) * 100]
    proposals = [torch.cat([p, p + 5 + torch.rand_like(p) * 20], dim=1) for p in proposals]
    logits, regression = torch.randn(350, 4) * 3, torch.randn(350, 16) * 0.1
    shapes = [(TILE, TILE), (TILE, TILE)]

    ours = heads.postprocess_detections(logits, regression, proposals, shapes)
    class_scores = heads._class_scores
    theirs = RoIHeads.postprocess_detections(heads, logits, regression, proposals, shapes)
    for mine, reference in zip(ours, theirs, strict=True):
        for a, b in zip(mine, reference, strict=True):
            assert torch.equal(a, b)
    for scores, labels, rows in zip(ours[1], ours[2], class_scores, strict=True):
        assert torch.equal(rows[torch.arange(len(rows)), labels - 1], scores)

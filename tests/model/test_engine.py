"""Training: the loss falls on a toy tile, NaN stops training loudly, validation leaves the model alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import RGB_MEAN, RGB_STD, TILE, sample, small_model

from footprints.model import (
    NonFiniteLossError,
    TileDataset,
    collate_fn,
    fit,
    resolve_device,
    seed_everything,
    train_one_epoch,
    validation_losses,
)

CPU = torch.device("cpu")
LOSS_TERMS = {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg", "loss"}


def _batch(*samples) -> tuple:
    return collate_fn(
        [TileDataset(list(samples), [1, 2, 3], RGB_MEAN, RGB_STD)[i] for i in range(len(samples))]
    )


@pytest.mark.slow
def test_training_lowers_the_loss_on_a_toy_tile():
    seed_everything(0)
    model = small_model()
    one_batch = [_batch(sample())]
    logged = []
    history = fit(
        model,
        one_batch,
        None,
        epochs=16,
        lr=0.01,
        weight_decay=1e-4,
        device=CPU,
        warmup_steps=3,
        progress=False,
        on_epoch_end=lambda epoch, metrics: logged.append((epoch, metrics)),
    )
    losses = [metrics["loss"] for metrics in history]
    assert [epoch for epoch, _ in logged] == list(range(1, 17))
    assert LOSS_TERMS | {"lr", "epoch_seconds"} == set(history[0])
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses


def test_validation_losses_leave_batchnorm_statistics_and_mode_alone():
    model = small_model().eval()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # v1 from scratch: ordinary BN
    before = {key: value.clone() for key, value in model.state_dict().items()}
    losses = validation_losses(model, [_batch(sample())], CPU)
    assert set(losses) == LOSS_TERMS and all(np.isfinite(list(losses.values())))
    assert not model.training
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


def test_a_tile_without_buildings_trains():
    model = small_model()
    empty = sample(masks=np.zeros((0, TILE, TILE), np.uint8), class_ids=np.zeros(0, int))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    losses = train_one_epoch(model, optimizer, [_batch(empty, sample())], CPU, epoch=1, progress=False)
    assert set(losses) == LOSS_TERMS and np.isfinite(losses["loss"])


def test_nan_input_raises_naming_epoch_step_and_terms():
    model = small_model()
    images, targets = _batch(sample())
    images[0][0, 5, 5] = float("nan")
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    with pytest.raises(NonFiniteLossError, match=r"epoch 4 step 1: loss is not finite \(loss_classifier=nan"):
        train_one_epoch(model, optimizer, [(images, targets)], CPU, epoch=4, progress=False)


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")

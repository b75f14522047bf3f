"""Started by test_ddp.py under ``torchrun``: trains the small test model with ``fit`` on synthetic tiles in
DDP, seeded differently on each rank, and writes what this rank ended with to ``<out>/rank<N>.json``."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import torch
from model_helpers import RGB_MEAN, RGB_STD, constant, small_model, synthetic_tile
from torch.utils.data import DataLoader

from footprints.model import ModelWeights, TileDataset, TileSample, collate_fn, distributed, fit, seed_everything


def tiles(count: int) -> TileDataset:
    samples = []
    for seed in range(count):
        image, masks, class_ids = synthetic_tile(seed)
        samples.append(TileSample(f"t{seed}", functools.partial(constant, image),
                                  functools.partial(constant, (masks, class_ids))))
    return TileDataset(samples, [1, 2, 3], RGB_MEAN, RGB_STD, augment=True)


def main(out: Path) -> None:
    with distributed.process_group(torch.device("cpu")) as device:
        seed_everything(distributed.rank())  # different initial weights on each rank: DDP must unify them
        train, val = tiles(3), tiles(1)  # 3 tiles for 2 ranks: the sampler repeats one
        loaders = [DataLoader(data, batch_size=1, collate_fn=collate_fn,
                              sampler=distributed.sampler(data, shuffle=shuffle, seed=0))
                   for data, shuffle in ((train, True), (val, False))]
        model = small_model()
        start = _fingerprint(model)
        history = fit(model, *loaders, epochs=2, lr=0.01, weight_decay=1e-4, device=device, warmup_steps=1,
                      progress=False)
        report = {"world_size": distributed.world_size(), "steps": len(loaders[0]), "history": history,
                  "start": start, "end": _fingerprint(model)}
        (out / f"rank{distributed.rank()}.json").write_text(json.dumps(report))


def _fingerprint(model: torch.nn.Module) -> str:
    """Hash of the learned parameters (BatchNorm running statistics are each rank's own, by design)."""
    return ModelWeights({name: value.detach() for name, value in model.named_parameters()}).fingerprint


if __name__ == "__main__":
    main(Path(sys.argv[1]))

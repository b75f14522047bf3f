"""Started by test_checkpoint.py: trains the compact model on synthetic tiles with an epoch checkpoint
(random sampler, augmentation, a worker process) and writes the final weights' fingerprint and history."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from ddp_worker import tiles
from torch.utils.data import DataLoader, RandomSampler

from footprints.model import ModelWeights, build_model, collate_fn, fit, seed_everything
from footprints.model.checkpoint import Checkpoint

EPOCHS = 4


def main(folder: Path, out: Path) -> None:
    seed_everything(7)
    torch.set_num_threads(1)
    train, val = tiles(6), tiles(2)
    generator = torch.Generator().manual_seed(7)
    train_loader = DataLoader(train, batch_size=2, collate_fn=collate_fn, num_workers=1, generator=generator,
                              sampler=RandomSampler(train, num_samples=4, generator=generator))
    val_loader = DataLoader(val, batch_size=2, collate_fn=collate_fn)
    model = build_model("maskrcnn_resnet18_fpn_gn", tile_size=128, pretrained="none", input_scale=0.5)
    history = fit(model, train_loader, val_loader, epochs=EPOCHS, lr=0.002, weight_decay=1e-4,
                  device=torch.device("cpu"), optimizer="adamw", warmup_steps=2, progress=False,
                  checkpoint=Checkpoint(folder, "run", {"test": True}))
    out.write_text(json.dumps({"weights": ModelWeights(model.state_dict()).fingerprint,
                               "losses": [row["loss"] for row in history]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

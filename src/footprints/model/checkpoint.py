"""Epoch checkpoints: a training run killed or stopped mid-way continues from its last finished epoch.

A checkpoint holds everything the next epoch depends on (weights, optimiser, LR schedule, gradient scaler,
the random streams of Python, numpy and torch, and the samplers' generators), so the resumed run ends with the
same weights as one that was never interrupted. Its file name is the run's identity (parameters, data, start
weights): a run with other settings never picks up a stranger's checkpoint, and needs no question asked.
"""

from __future__ import annotations

import json
import logging
import pickle
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from footprints.atomic import atomic_path

if TYPE_CHECKING:  # torch is imported where states are read and written, so the MLflow hook can import this
    import torch

log = logging.getLogger(__name__)

# Settings that change how fast a run goes, not what it computes: a resumed run may change them.
SPEED_SETTINGS = ("num_workers", "torch_threads", "checkpoint_dir")


def run_params(params: dict[str, Any]) -> dict[str, Any]:
    """The training parameters that a checkpoint belongs to, as JSON gives them back."""
    return json.loads(json.dumps({k: v for k, v in params.items() if k not in SPEED_SETTINGS}, default=str))


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint file of one training run (``<folder>/<identity>.pt``) and its readable sidecar."""

    folder: Path
    identity: str
    params: dict[str, Any] = field(default_factory=dict)  # the run's parameters, written to the sidecar

    @property
    def path(self) -> Path:
        return Path(self.folder) / f"{self.identity}.pt"

    @property
    def sidecar(self) -> Path:
        """JSON beside the checkpoint: epoch, MLflow run and parameters, readable without torch."""
        return self.path.with_suffix(".json")

    def load(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` when this run has none yet (an unreadable file is started afresh)."""
        import torch

        if not self.path.is_file():
            return None
        try:  # our own file, written by ``save``: it holds Python and numpy random states beside tensors
            return torch.load(self.path, map_location="cpu", weights_only=False)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
            log.warning("checkpoint %s is unreadable (%s); training from the start", self.path, error)
            return None

    def save(self, state: dict[str, Any], about: dict[str, Any]) -> None:
        """Write atomically (a kill during the write keeps the previous epoch's checkpoint)."""
        import torch

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)
        with atomic_path(self.sidecar) as tmp:
            Path(tmp).write_text(json.dumps(about | {"params": self.params}, indent=1, default=str))

    def remove(self) -> None:
        """A finished run needs its checkpoint no more."""
        self.path.unlink(missing_ok=True)
        self.sidecar.unlink(missing_ok=True)


def random_state(generators: list[torch.Generator]) -> dict[str, Any]:
    """Every random stream training draws from: Python, numpy, torch (CPU, CUDA) and the loaders' generators."""
    import torch

    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "generators": [generator.get_state() for generator in generators],
    }


def restore_random_state(state: dict[str, Any], generators: list[torch.Generator]) -> None:
    """Put back what ``random_state`` saved, so the next epoch draws what it would have drawn."""
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for generator, saved in zip(generators, state["generators"], strict=True):
        generator.set_state(saved)


def active_mlflow_run_id() -> str | None:
    """The MLflow run this process logs to, when MLflow is already in use (it is not imported for this)."""
    mlflow = sys.modules.get("mlflow")
    run = mlflow.active_run() if mlflow is not None else None
    return run.info.run_id if run is not None else None

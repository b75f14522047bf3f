"""Weights files: safetensors (no pickle, safe to load from anyone) with the model config in the metadata."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from footprints.atomic import atomic_path

if TYPE_CHECKING:  # torch is imported where tensors are written (see footprints.model)
    import torch
    from torch import nn

CONFIG_KEY = "footprints_config"


class WeightsError(ValueError):
    """Weights that cannot be had or do not fit the model; the message is one line naming the file and why."""


@dataclass
class ModelWeights:
    """A state_dict and what rebuilds and feeds the model (arch, tile size, bands, normalisation)."""

    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any] | None = None
    source: str = field(default="")

    @property
    def fingerprint(self) -> str:
        """Content hash of the weights: predictions made by the same weights can be recognised and reused."""
        digest = hashlib.sha256()
        for key in sorted(self.state_dict):
            digest.update(key.encode())
            digest.update(self.state_dict[key].cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


def save_weights(model: nn.Module | ModelWeights, path: str | os.PathLike) -> None:
    """Write a model's (or a ``ModelWeights``') state_dict atomically: a killed run leaves no truncated file."""
    from safetensors.torch import save_file

    weights = model if isinstance(model, ModelWeights) else ModelWeights(model.state_dict())
    state = {key: tensor.detach().cpu().contiguous() for key, tensor in weights.state_dict.items()}
    metadata = {CONFIG_KEY: json.dumps(weights.config)} if weights.config is not None else None
    with atomic_path(path) as tmp:
        save_file(state, tmp, metadata=metadata)


def read_weights(path: str | os.PathLike, source: str | None = None) -> ModelWeights:
    """Tensors and config (None if the file has none) of a weights file; problems raise ``WeightsError``."""
    source = source or str(path)
    if not Path(path).is_file():
        raise WeightsError(f"weights file {source} not found")
    try:
        with safe_open(path, framework="pt") as handle:
            config = json.loads((handle.metadata() or {}).get(CONFIG_KEY, "null"))
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{source} is not a readable safetensors file: {error}") from None
    return ModelWeights(state, config, source)


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Just the state_dict of a weights file."""
    return read_weights(path).state_dict

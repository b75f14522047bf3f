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
SCALE_SUFFIX = ".int8_scale"  # beside an int8 weight tensor: its per-output-channel scale


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


def save_weights(model: nn.Module | ModelWeights, path: str | os.PathLike, precision: str = "float32") -> None:
    """Write a model's (or a ``ModelWeights``') state_dict atomically: a killed run leaves no truncated file.

    ``precision``: ``float32`` as trained; ``float16`` halves the file; ``int8`` stores each large weight
    tensor as 8-bit integers with one float32 scale per output channel (a quarter of the file, for a model
    shipped in a repository; see ``quantised``). ``read_weights`` gives float32 tensors back in every case.
    """
    from safetensors.torch import save_file

    weights = model if isinstance(model, ModelWeights) else ModelWeights(model.state_dict())
    state = {key: tensor.detach().cpu().contiguous() for key, tensor in weights.state_dict.items()}
    if precision not in ("float32", "float16", "int8"):
        raise ValueError(f"precision must be float32, float16 or int8, got {precision!r}")
    if precision == "float16":
        state = {key: t.half() if t.is_floating_point() else t for key, t in state.items()}
    elif precision == "int8":
        state = quantised(state)
    metadata = {CONFIG_KEY: json.dumps(weights.config)} if weights.config is not None else None
    with atomic_path(path) as tmp:
        save_file(state, tmp, metadata=metadata)


def quantised(state: dict[str, torch.Tensor], min_size: int = 4096) -> dict[str, torch.Tensor]:
    """Weight tensors of at least ``min_size`` values as int8 with a per-output-channel scale stored beside
    them (key + ``SCALE_SUFFIX``); biases, norms and small tensors stay float32. Symmetric rounding to 127
    levels per channel changes a weight by at most half a step (0.4 % of the channel's largest weight)."""
    import torch

    out = {}
    for key, tensor in state.items():
        if not tensor.is_floating_point() or tensor.numel() < min_size or tensor.ndim < 2:
            out[key] = tensor.float() if tensor.is_floating_point() else tensor
            continue
        flat = tensor.float().reshape(tensor.shape[0], -1)
        scale = flat.abs().amax(dim=1).clamp(min=1e-12) / 127
        out[key] = torch.round(flat / scale[:, None]).to(torch.int8).reshape(tensor.shape).contiguous()
        out[key + SCALE_SUFFIX] = scale
    return out


def dequantised(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float32 tensors back from ``quantised`` ones (and from float16 ones); others unchanged."""
    out = {}
    for key, tensor in state.items():
        if key.endswith(SCALE_SUFFIX):
            continue
        if key + SCALE_SUFFIX in state:
            scale = state[key + SCALE_SUFFIX].float()
            out[key] = (tensor.float().reshape(tensor.shape[0], -1) * scale[:, None]).reshape(tensor.shape)
        else:
            out[key] = tensor.float() if tensor.is_floating_point() else tensor
    return out


def read_weights(path: str | os.PathLike, source: str | None = None) -> ModelWeights:
    """Tensors (float32) and config (None if the file has none) of a weights file; problems raise
    ``WeightsError``."""
    source = source or str(path)
    if not Path(path).is_file():
        raise WeightsError(f"weights file {source} not found")
    try:
        with safe_open(path, framework="pt") as handle:
            config = json.loads((handle.metadata() or {}).get(CONFIG_KEY, "null"))
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError) as error:
        raise WeightsError(f"{source} is not a readable safetensors file: {error}") from None
    return ModelWeights(dequantised(state), config, source)


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Just the state_dict of a weights file."""
    return read_weights(path).state_dict

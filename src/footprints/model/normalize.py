"""Band selection and per-band scaling, shared by training and prediction so both see the same inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Normalizer:
    """Pick bands (1-based, as GDAL counts them) and scale each to ``(value - mean) / std``.

    Mean and std are in raw pixel units, so one setting serves uint8 and uint16 rasters alike. For uint8 RGB,
    mean (123.7, 116.3, 103.5) and std (58.4, 57.1, 57.4) equal torchvision's ImageNet normalisation of 0-1
    images, which is what COCO weights were trained on.
    """

    bands: Sequence[int]
    mean: Sequence[float]
    std: Sequence[float]

    def __post_init__(self) -> None:
        if not (len(self.bands) == len(self.mean) == len(self.std)) or not self.bands:
            raise ValueError(
                f"bands, mean and std need one entry per band: got {len(self.bands)} bands, "
                f"{len(self.mean)} means, {len(self.std)} stds"
            )
        if min(self.bands) < 1:
            raise ValueError(f"band indexes are 1-based, got {list(self.bands)}")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {list(self.std)}")

    def __call__(self, image: np.ndarray, nodata: float | None = None) -> torch.Tensor:
        """Return a float32 ``len(bands) x H x W`` tensor; nodata pixels become 0, the mean of real data.

        A pixel is nodata when every selected band holds the nodata value: a dark real pixel can hit that
        value in one band, and zeroing it would erase real data.
        """
        if image.ndim != 3 or max(self.bands) > image.shape[0]:
            raise ValueError(
                f"image of shape {image.shape} has no band {max(self.bands)} (want bands x H x W)"
            )
        selected = image[[band - 1 for band in self.bands]]
        mean = np.asarray(self.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None, None]
        scaled = (selected.astype(np.float32) - mean) / std
        if nodata is not None:
            scaled[:, ~self.valid(image, nodata)] = 0.0
        return torch.from_numpy(scaled)

    def valid(self, image: np.ndarray, nodata: float | None) -> np.ndarray:
        """H x W bool: the pixels that hold data in at least one selected band (see ``__call__``)."""
        selected = image[[band - 1 for band in self.bands]]
        if nodata is None:
            return np.ones(selected.shape[1:], dtype=bool)
        is_nodata = np.isnan(selected) if np.isnan(nodata) else selected == nodata
        return ~is_nodata.all(axis=0)

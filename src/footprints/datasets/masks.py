"""``InstanceMasksDataset``: the per-instance masks of one tile, ready for training, as a compressed .npz."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset

from footprints.atomic import atomic_path


@dataclass
class InstanceMasks:
    """One binary mask per building instance of a tile (N x H x W) with its class and label ids."""

    masks: np.ndarray
    class_ids: np.ndarray
    label_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.class_ids)


class InstanceMasksDataset(AbstractDataset[InstanceMasks, InstanceMasks]):
    """Instance masks of a tile in a compressed NumPy archive, written atomically.

    Example catalog entry (one file per tile)::

        instance_masks:
          type: partitions.PartitionedDataset
          path: data/03_primary/instance_masks
          filename_suffix: .npz
          dataset: footprints.datasets.masks.InstanceMasksDataset
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> InstanceMasks:
        with np.load(self._filepath) as archive:
            return InstanceMasks(archive["masks"], archive["class_ids"], archive["label_ids"])

    def save(self, data: InstanceMasks) -> None:
        with atomic_path(self._filepath) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, masks=data.masks.astype(np.uint8), class_ids=data.class_ids,
                                label_ids=data.label_ids)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

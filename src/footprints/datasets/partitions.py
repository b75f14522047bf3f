"""``ExistingPartitionsDataset``: a partitioned folder that may not exist yet, for resumable runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro_datasets.partitions import PartitionedDataset


class ExistingPartitionsDataset(PartitionedDataset):
    """A ``PartitionedDataset`` whose load gives ``{}`` instead of an error when no partition exists yet.

    Point a second catalog entry at an output folder to let a node see what an earlier (possibly killed) run
    already wrote, and skip that work::

        existing_tiles:
          type: footprints.datasets.partitions.ExistingPartitionsDataset
          path: data/02_intermediate/tiles
          filename_suffix: .tif
          dataset: {type: footprints.datasets.raster.GeoTIFFDataset, lazy: true}
    """

    def load(self) -> dict[str, Callable[[], Any]]:
        self._invalidate_caches()  # the folder changes between loads when a run resumes
        return super().load() if self._list_partitions() else {}

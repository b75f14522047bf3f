"""``ExistingPartitionsDataset``: a partitioned folder that may not exist yet, for resumable runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kedro_datasets._typing import ImagePreview, JSONPreview
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


def _first_partition(partitions: PartitionedDataset) -> Any:
    """The dataset object of the first partition (for a kedro-viz preview of a folder of many files)."""
    first = sorted(partitions._list_partitions())[0]
    config = {**partitions._dataset_config, partitions._filepath_arg: partitions._join_protocol(first)}
    return partitions._dataset_type(**config)


class TileImagesDataset(PartitionedDataset):
    """A folder of tile GeoTIFFs; kedro-viz shows the first tile as an image. Catalog use as
    ``PartitionedDataset`` with ``dataset: footprints.datasets.raster.GeoTIFFDataset``."""

    def preview(self) -> ImagePreview:
        return _first_partition(self).preview()


class TileDocumentsDataset(ExistingPartitionsDataset):
    """A folder of per-tile JSON documents (may not exist yet); kedro-viz shows the first one."""

    def preview(self) -> JSONPreview:
        return _first_partition(self).preview()

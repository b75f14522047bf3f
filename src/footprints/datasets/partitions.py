"""``ExistingPartitionsDataset``: a partitioned folder that may not exist yet, for resumable runs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from copy import deepcopy
from functools import partial
from typing import Any

from kedro_datasets._typing import ImagePreview, JSONPreview
from kedro_datasets.partitions import PartitionedDataset

from footprints.datasets.raster import keep_open
from footprints.distributed import chunks, map_tasks


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


class ParallelPartitionedDataset(PartitionedDataset):
    """A ``PartitionedDataset`` whose save computes and writes the partitions in batches on the run's Dask
    cluster (footprints.distributed), or in this process when there is none.

    A node returns lazy partitions (picklable callables built from paths and small specs); each task calls
    the callables of one batch of consecutive partitions and saves them through the partition dataset, so
    pixels are made and written on the worker and never travel. ``batch_size`` bounds the partitions per
    task (fewer when there are few, so that every worker gets some). Partition datasets must write
    atomically: a task whose worker dies is run again, rewriting the same files::

        instance_masks:
          type: footprints.datasets.partitions.ParallelPartitionedDataset
          path: data/03_primary/instance_masks
          filename_suffix: .npz
          dataset: footprints.datasets.masks.InstanceMasksDataset
          batch_size: 32
    """

    def __init__(self, *, batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._batch_size = batch_size

    def save(self, data: dict[str, Any]) -> None:
        if self._overwrite and self._filesystem.exists(self._normalized_path):
            self._filesystem.rm(self._normalized_path, recursive=True)
        jobs = []
        for partition_id, partition_data in sorted(data.items()):
            kwargs = deepcopy(self._dataset_config)
            kwargs[self._filepath_arg] = self._join_protocol(self._partition_to_path(partition_id))
            jobs.append((kwargs, partition_data))
        save = partial(_save_batch, self._dataset_type, self._save_lazily, self._batch_context)
        map_tasks(save, chunks(jobs, self._batch_size), desc=f"saving {len(jobs)} partitions")
        self._invalidate_caches()

    @staticmethod
    def _batch_context() -> contextlib.AbstractContextManager:
        """Entered around each batch on its worker (resources shared by the batch's partitions)."""
        return contextlib.nullcontext()


def _save_batch(dataset_type: type, save_lazily: bool, context: Callable[[], contextlib.AbstractContextManager],
                jobs: list[tuple[dict[str, Any], Any]]) -> int:
    """One task: make and save each partition of a batch (on a Dask worker, or in-process)."""
    with context():
        for kwargs, data in jobs:
            dataset_type(**kwargs).save(data() if callable(data) and save_lazily else data)
    return len(jobs)


class TileImagesDataset(ParallelPartitionedDataset):
    """A folder of tile GeoTIFFs written in parallel batches, each batch opening its source raster once
    (``keep_open``); kedro-viz shows the first tile as an image. Catalog use as ``PartitionedDataset`` with
    ``dataset: footprints.datasets.raster.GeoTIFFDataset``."""

    @staticmethod
    def _batch_context() -> contextlib.AbstractContextManager:
        return keep_open()

    def preview(self) -> ImagePreview:
        return _first_partition(self).preview()


class TileDocumentsDataset(ExistingPartitionsDataset):
    """A folder of per-tile JSON documents (may not exist yet); kedro-viz shows the first one."""

    def preview(self) -> JSONPreview:
        return _first_partition(self).preview()

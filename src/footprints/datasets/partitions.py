"""Partitioned folders the project can trust: complete-or-absent sets, raster folders of any .tif spelling.

``ParallelPartitionedDataset`` computes and saves lazy partitions in batches on the run's Dask cluster (or in
this process). ``ManifestPartitionsDataset``, built on it, is the writer and reader of every partitioned
output (tiles, instance masks, tile JSON, per-image outputs). Saving removes the folder's manifest first, writes the members (each
atomically), and writes the manifest last (atomically), naming every member with its size and mtime (and,
for tiles, the tags that let a later run keep them without opening them: ``ExistingTilesDataset``).
Loading gives the members of the manifest only, after checking each is still what was written; a folder
with members but no manifest is what a killed run leaves, and is refused with one line saying what to re-run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from kedro_datasets._typing import ImagePreview, JSONPreview
from kedro_datasets.partitions import PartitionedDataset

from footprints.atomic import atomic_path
from footprints.datasets.raster import GeoTIFFTagsDataset, keep_open
from footprints.distributed import chunks, map_tasks
from footprints.errors import InputError
from footprints.tiling import SOURCE_TAG, WINDOW_TAG

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest"
TEMP_SUFFIX = ".part"  # footprints.atomic's temp files


def manifest_name(filename_suffix: str) -> str:
    """``_npz.manifest`` (JSON): one per suffix, so two sets may share a folder (``buildings/*.gpkg`` and
    ``*.geojson``), and never ending in a member's suffix, so no plain listing takes it for a member."""
    return f"_{filename_suffix.lstrip('.') or 'files'}{MANIFEST_SUFFIX}"


def _stamp(path: Path) -> dict[str, int]:
    """What a member is checked by: a member replaced, truncated or rewritten since has another stamp."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _stamp_of(record: dict[str, Any]) -> dict[str, int]:
    """The stamp part of a manifest record (records may carry more, such as a tile's tags)."""
    return {"size": record.get("size"), "mtime_ns": record.get("mtime_ns")}


def _intact(path: Path, record: dict[str, Any]) -> bool:
    """The file is still the one the record was made of (same size and mtime; a copy that keeps both, such as
    ``cp -p`` or ``rsync -a`` over it, is not told apart)."""
    try:
        return _stamp(path) == _stamp_of(record)
    except FileNotFoundError:
        return False


def read_members(manifest: Path) -> dict[str, dict[str, Any]]:
    """A manifest's member records by file name (relative to its folder); raises on an unreadable one."""
    return json.loads(manifest.read_text())["members"]


def intact_records(folder: Path, manifest: Path) -> dict[str, dict[str, Any]]:
    """The manifest's records of members still as recorded; ``{}`` without a readable manifest."""
    try:
        members = read_members(manifest)
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {name: record for name, record in members.items() if _intact(folder / name, record)}


@dataclass(frozen=True, eq=False)
class Keyed:
    """A lazy partition with the key of what it is made from (a hash of its inputs).

    ``ManifestPartitionsDataset`` records the key with the member and, on a later save, keeps a member whose
    recorded key is the same and whose file is unchanged instead of making it again.
    """

    key: str
    make: Callable[[], Any]

    def __call__(self) -> Any:
        return self.make()


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

    def __init__(self, *, batch_size: int = 32, parallel: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._batch_size, self._parallel = batch_size, parallel

    def save(self, data: dict[str, Any]) -> None:
        """In batches on the cluster; with ``parallel: false`` one by one in this process, in partition order
        (for lazy partitions that must be made in order, such as the tile predictions' document stream)."""
        if self._overwrite and self._filesystem.exists(self._normalized_path):
            self._filesystem.rm(self._normalized_path, recursive=True)
        self._write(data)

    def _write(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Save ``data``'s partitions; returns what is recorded of each (``_partition_record``, a ``Keyed``
        partition's key), by partition id, leaving out empty records."""
        jobs = []
        for partition_id, partition_data in sorted(data.items()):
            kwargs = deepcopy(self._dataset_config)
            kwargs[self._filepath_arg] = self._join_protocol(self._partition_to_path(partition_id))
            jobs.append((kwargs, partition_data))
        save = partial(_save_batch, self._dataset_type, self._save_lazily, self._batch_context,
                       self._partition_record)
        if not jobs:  # nothing to make: no cluster started for it
            batches = []
        elif self._parallel:
            batches = map_tasks(save, chunks(jobs, self._batch_size), desc=f"saving {len(jobs)} partitions")
        else:
            batches = [save(jobs)]
        self._invalidate_caches()
        records = {}
        for pid, record in zip(sorted(data), (record for batch in batches for record in batch)):
            if isinstance(data[pid], Keyed):
                record = {**record, "key": data[pid].key}
            if record:
                records[pid] = record
        return records

    @staticmethod
    def _batch_context() -> contextlib.AbstractContextManager:
        """Entered around each batch on its worker (resources shared by the batch's partitions)."""
        return contextlib.nullcontext()

    @staticmethod
    def _partition_record(data: Any) -> dict[str, Any]:
        """What the manifest keeps about a partition besides its stamp, taken from the data on the worker."""
        return {}


def _save_batch(dataset_type: type, save_lazily: bool, context: Callable[[], contextlib.AbstractContextManager],
                record: Callable[[Any], dict[str, Any]], jobs: list[tuple[dict[str, Any], Any]]
                ) -> list[dict[str, Any]]:
    """One task: make and save each partition of a batch (on a Dask worker, or in-process); returns what
    ``record`` says of each partition, in order."""
    records = []
    with context():
        for kwargs, data in jobs:
            value = data() if callable(data) and save_lazily else data
            dataset_type(**kwargs).save(value)
            records.append(record(value))
    return records


class ManifestPartitionsDataset(ParallelPartitionedDataset):
    """A ``PartitionedDataset`` (local folder) whose set of partitions is complete or absent.

    ``incremental: true`` is for outputs a node only adds to (tiles and tile predictions that a re-run does
    not write again): the manifest then also names the complete members already in the folder.
    ``optional: true`` loads ``{}`` when the folder holds no set yet (instead of an error). ``parallel: true``
    saves in batches on the run's Dask cluster (see ``ParallelPartitionedDataset``).

    Example catalog entry::

        instance_masks:
          type: footprints.datasets.partitions.ManifestPartitionsDataset
          path: data/03_primary/instance_masks
          filename_suffix: .npz
          dataset: footprints.datasets.masks.InstanceMasksDataset
    """

    def __init__(self, *, incremental: bool = False, optional: bool = False, parallel: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(parallel=parallel, **kwargs)
        self._incremental = incremental
        self._optional = optional

    @property
    def folder(self) -> Path:
        return Path(self._filesystem._strip_protocol(self._normalized_path))

    @property
    def manifest_path(self) -> Path:
        return self.folder / manifest_name(self._filename_suffix)

    def _list_partitions(self) -> list[str]:
        """Files of the set's suffix, never the manifest nor a temp file."""
        return [path for path in super()._list_partitions()
                if not Path(path).name.startswith(".") and not path.endswith(MANIFEST_SUFFIX)]

    def load(self) -> dict[str, Callable[[], Any]]:
        self._invalidate_caches()
        members = self._trusted_members()
        if members is None:
            if self._optional:
                return {}
            kind = self._filename_suffix or "files"
            raise InputError(f"{self.folder}: no complete set of {kind} there yet; run the pipeline that "
                             "writes it first")
        partitions = {}
        for name in members:
            kwargs = {**self._dataset_config, self._filepath_arg: str(self.folder / name)}
            partitions[self._path_to_partition(str(self.folder / name))] = self._dataset_type(**kwargs).load
        return partitions

    def _trusted_members(self) -> list[str] | None:
        """The manifest's members after checking them; ``None`` when the folder holds no set."""
        listed = {os.path.relpath(path, self.folder) for path in self._list_partitions()}
        if not self.manifest_path.is_file():
            if listed:
                raise InputError(f"{self.folder}: {len(listed)} {self._filename_suffix} files but no "
                                 f"{self.manifest_path.name}: the run writing them was stopped before the "
                                 "end, so they are not trusted; run the pipeline that writes them again")
            return None
        members = self._read_manifest()
        for name, record in members.items():
            path = self.folder / name
            if not _intact(path, record):
                manifest = self.manifest_path.name
                raise InputError(f"{path}: changed or missing since {manifest} was written, so the set is "
                                 "not trusted; run the pipeline that writes it again")
        ignored = listed - set(members)
        if ignored:
            log.warning("%s: %d %s files not named in %s (left by an earlier run) are ignored", self.folder,
                        len(ignored), self._filename_suffix, self.manifest_path.name)
        return sorted(members)

    def _read_manifest(self) -> dict[str, dict[str, Any]]:
        try:
            return read_members(self.manifest_path)
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(f"{self.manifest_path}: unreadable manifest ({err}); delete the folder "
                             f"{self.folder} and run the pipeline that writes it again") from None

    def save(self, data: dict[str, Any]) -> None:
        """Manifest out, members in (each atomically, in parallel batches), manifest back last: a killed save
        leaves no set.

        A ``Keyed`` partition whose member is unchanged since the last manifest, which recorded the same key,
        is kept instead of made again. ``overwrite: true`` makes the set exactly ``data``: the other files of
        this suffix are deleted (those of another suffix sharing the folder stay)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_temp_files(self.folder)
        kept = intact_records(self.folder, self.manifest_path)
        unchanged = {pid for pid, value in data.items()
                     if isinstance(value, Keyed) and kept.get(self._member(pid), {}).get("key") == value.key}
        self.manifest_path.unlink(missing_ok=True)
        if self._overwrite:
            self._remove_all_but({self._member(pid) for pid in unchanged})
        making = {pid: value for pid, value in data.items() if pid not in unchanged}
        try:
            made = self._write(making)
        except Exception:  # e.g. a damaged raster block: no half-made set is left for anyone to look at
            for pid in making:
                (self.folder / self._member(pid)).unlink(missing_ok=True)
            raise
        new = {self._member(pid): made.get(pid, {}) for pid in data if pid not in unchanged}
        written = {self._member(pid) for pid in data}
        if self._incremental:
            written |= {os.path.relpath(p, self.folder) for p in self._list_partitions()}
        members = {name: self._member_record(name, new, kept) for name in sorted(written)}
        with atomic_path(self.manifest_path) as tmp:
            tmp.write_text(json.dumps({"members": members}, indent=0))
        self._invalidate_caches()

    def _member(self, partition_id: str) -> str:
        """A partition's file name in the manifest (relative to the folder)."""
        return os.path.relpath(self._partition_to_path(partition_id), self.folder)

    def _remove_all_but(self, names: set[str]) -> None:
        """Delete this set's files (the folder's files of its suffix) not named in ``names``."""
        self._invalidate_caches()
        for path in self._list_partitions():
            if os.path.relpath(path, self.folder) not in names:
                Path(path).unlink(missing_ok=True)
        self._invalidate_caches()

    def _member_record(self, name: str, new: dict[str, dict[str, Any]], kept: dict[str, dict[str, Any]]
                       ) -> dict[str, Any]:
        """Stamp, plus what this save recorded of a member it wrote; for a member it kept, what the last
        manifest recorded if the file is unchanged, else what the file itself says (once: a member kept
        from a run that recorded nothing)."""
        path = self.folder / name
        stamp = _stamp(path)
        if name in new:
            return {**new[name], **stamp}
        if name in kept and _stamp_of(kept[name]) == stamp:
            extra = {key: value for key, value in kept[name].items() if key not in stamp}
            if extra:
                return {**extra, **stamp}
        return {**self._file_record(path), **stamp}

    @staticmethod
    def _file_record(path: Path) -> dict[str, Any]:
        """``_partition_record`` of a member read back from its file (none by default)."""
        return {}

    def _exists(self) -> bool:
        return self.manifest_path.is_file()


def remove_temp_files(folder: Path) -> int:
    """Delete the temp files (``.<name>.<random>.part``) a killed run left in ``folder``; returns how many."""
    stale = [path for path in folder.rglob(f".*{TEMP_SUFFIX}") if path.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.warning("%s: removed %d temporary files left by a run that was stopped", folder, len(stale))
    return len(stale)


class ExistingPartitionsDataset(PartitionedDataset):
    """A ``PartitionedDataset`` whose load gives ``{}`` instead of an error when no partition exists yet.

    Point a second catalog entry at an output folder to let a node see what an earlier (possibly killed) run
    already wrote, and skip that work. Each member must prove itself (tile predictions carry their reuse key,
    tiles the hash of their raster and their window: ``ExistingTilesDataset``); the manifest is not needed
    for that::

        existing_predictions:
          type: footprints.datasets.partitions.ExistingPartitionsDataset
          path: data/07_model_output/tile_predictions
          filename_suffix: .json
          dataset: footprints.datasets.documents.JSONDocumentDataset
    """

    def load(self) -> dict[str, Callable[[], Any]]:
        self._invalidate_caches()  # the folder changes between loads when a run resumes
        return super().load() if self._list_partitions() else {}


class ExistingTilesDataset(ExistingPartitionsDataset):
    """The tiles already in a folder, each as the tags it was written with (its source raster's hash and its
    window: ``footprints.tiling``), which decide whether a run can keep it.

    A tile whose size and mtime are those the folder's manifest recorded with its tags gives them without
    being opened: a run with nothing to tile would otherwise open every tile (~1.5 ms each, seconds for a
    city). Any other tile (a killed run left no manifest, a file was replaced) is opened and its tags read::

        existing_tiles:
          type: footprints.datasets.partitions.ExistingTilesDataset
          path: data/02_intermediate/tiles
          filename_suffix: .tif
          dataset: footprints.datasets.raster.GeoTIFFTagsDataset
    """

    def load(self) -> dict[str, Callable[[], dict[str, str]]]:
        loaders = super().load()
        folder = Path(self._filesystem._strip_protocol(self._normalized_path))
        records = intact_records(folder, folder / manifest_name(self._filename_suffix))
        for pid in loaders:
            record = records.get(os.path.relpath(self._partition_to_path(pid), folder), {})
            if "tags" in record:
                loaders[pid] = partial(dict, record["tags"])
        return loaders


RASTER_SUFFIXES = (".tif", ".tiff")


class RasterFolderDataset(PartitionedDataset):
    """A folder of GeoTIFFs named ``*.tif`` or ``*.tiff`` in any case (``.TIF`` from Windows tools); the
    partition id is the file name without its suffix. Other files are ignored with a warning that names them.

    Example catalog entry::

        raw_images:
          type: footprints.datasets.partitions.RasterFolderDataset
          path: data/01_raw/images
          dataset: {type: footprints.datasets.raster.GeoTIFFDataset, lazy: true}
    """

    def _list_partitions(self) -> list[str]:
        files = [path for path in super()._list_partitions() if not Path(path).name.startswith(".")]
        rasters = [path for path in files if Path(path).suffix.lower() in RASTER_SUFFIXES]
        others = sorted(Path(path).name for path in set(files) - set(rasters))
        if others:
            log.warning("%s: %d files are not GeoTIFFs (.tif/.tiff) and are ignored: %s", self._path,
                        len(others), ", ".join(others[:10]) + (" ..." if len(others) > 10 else ""))
        self._check_unique_ids(rasters)
        return rasters

    def _path_to_partition(self, path: str) -> str:
        partition = super()._path_to_partition(path)
        return partition[: -len(Path(partition).suffix)] if Path(partition).suffix else partition

    def _check_unique_ids(self, rasters: list[str]) -> None:
        by_id: dict[str, list[str]] = {}
        for path in rasters:
            by_id.setdefault(self._path_to_partition(path), []).append(Path(path).name)
        clashes = [names for names in by_id.values() if len(names) > 1]
        if clashes:
            raise InputError(f"{self._path}: {' and '.join(clashes[0])} would be the same image id; rename "
                             "or remove one of them")


def _first_partition(partitions: PartitionedDataset) -> Any:
    """The dataset object of the first partition (for a kedro-viz preview of a folder of many files)."""
    first = sorted(partitions._list_partitions())[0]
    config = {**partitions._dataset_config, partitions._filepath_arg: partitions._join_protocol(first)}
    return partitions._dataset_type(**config)


class TileImagesDataset(ManifestPartitionsDataset):
    """A folder of tile GeoTIFFs written in parallel batches, each batch opening its source raster once
    (``keep_open``); kedro-viz shows the first tile as an image."""

    def __init__(self, *, parallel: bool = True, **kwargs: Any) -> None:
        super().__init__(parallel=parallel, **kwargs)

    @staticmethod
    def _batch_context() -> contextlib.AbstractContextManager:
        return keep_open()

    @staticmethod
    def _partition_record(data: Any) -> dict[str, Any]:
        """The tile's tags (source hash, window), for ``ExistingTilesDataset`` to read without opening it."""
        return _reuse_tags(data.profile.get("tags") or {})

    @staticmethod
    def _file_record(path: Path) -> dict[str, Any]:
        return _reuse_tags(GeoTIFFTagsDataset(filepath=str(path)).load())

    def preview(self) -> ImagePreview:
        return _first_partition(self).preview()


def _reuse_tags(tags: dict[str, str]) -> dict[str, Any]:
    """A tile's manifest record: the two tags that decide whether a run keeps it (``footprints.tiling``)."""
    return {"tags": {name: tags[name] for name in (SOURCE_TAG, WINDOW_TAG) if name in tags}}


class TileDocumentsDataset(ManifestPartitionsDataset):
    """A folder of per-tile JSON documents; kedro-viz shows the first one."""

    def preview(self) -> JSONPreview:
        return _first_partition(self).preview()

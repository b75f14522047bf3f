"""Partitioned outputs are complete-or-absent sets; raster folders take every .tif/.tiff spelling."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from kedro.io import DatasetError

from footprints.datasets.masks import InstanceMasks
from footprints.datasets.partitions import Keyed, ManifestPartitionsDataset, RasterFolderDataset
from footprints.errors import InputError
from tests.conftest import write_raster


def masks(folder: Path, **kwargs) -> ManifestPartitionsDataset:
    return ManifestPartitionsDataset(path=str(folder), filename_suffix=".npz",
                                     dataset="footprints.datasets.masks.InstanceMasksDataset", **kwargs)


def mask(value: int) -> InstanceMasks:
    return InstanceMasks(np.full((1, 4, 4), value, np.uint8), np.array([1]), np.array([value]))


class Killed(Exception):
    """Stands for SIGKILL: the writer stops between two members."""


def killed_after(count: int):
    written = []

    def build(value: int) -> InstanceMasks:
        if len(written) == count:
            raise Killed
        written.append(value)
        return mask(value)
    return build


def test_a_save_that_fails_half_way_leaves_no_member_and_no_set(tmp_path):
    folder = tmp_path / "instance_masks"
    masks(folder, overwrite=True).save({f"old_{i}": mask(i) for i in range(5)})
    build = killed_after(2)
    with pytest.raises(DatasetError) as stopped:
        masks(folder, overwrite=True).save({f"new_{i}": (lambda i=i: build(i)) for i in range(5)})
    assert isinstance(stopped.value.__cause__ or stopped.value.__context__, Killed)
    assert not list(folder.glob("*.npz"))  # the two it had written are removed with the manifest
    with pytest.raises(InputError, match=r"no complete set of \.npz there yet"):
        masks(folder).load()


def test_a_set_killed_half_way_is_not_trusted_and_a_rerun_replaces_it(tmp_path):
    folder = tmp_path / "instance_masks"
    masks(folder, overwrite=True).save({f"old_{i}": mask(i) for i in range(5)})
    (folder / "_npz.manifest").unlink()  # what a SIGKILL between members leaves: members, no manifest
    (folder / "old_3.npz").unlink()
    (folder / "old_4.npz").unlink()
    (folder / "old_2.npz").unlink()
    with pytest.raises(InputError, match=r"2 \.npz files but no _npz\.manifest.*run the pipeline"):
        masks(folder).load()

    masks(folder, overwrite=True).save({f"new_{i}": mask(i) for i in range(3)})
    loaded = masks(folder).load()
    assert sorted(loaded) == ["new_0", "new_1", "new_2"]
    assert loaded["new_2"]().label_ids.tolist() == [2]


def test_members_not_in_the_manifest_are_ignored_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "predictions"
    masks(folder).save({"a": mask(1), "b": mask(2)})
    masks(folder).save({"a": mask(3)})  # not incremental: b is no longer part of the set
    with caplog.at_level(logging.WARNING):
        assert sorted(masks(folder).load()) == ["a"]
    assert "1 .npz files not named in _npz.manifest" in caplog.text


def test_incremental_sets_keep_the_members_already_there(tmp_path):
    folder = tmp_path / "tiles"
    masks(folder, incremental=True).save({"a": mask(1)})
    masks(folder, incremental=True).save({"b": mask(2)})  # a is unchanged on disk: not written again
    assert sorted(masks(folder).load()) == ["a", "b"]


def test_keyed_members_with_the_same_key_are_kept_without_a_cluster(tmp_path):
    """Nothing to make: the save neither calls the builders nor starts the run's pending Dask cluster."""
    from distributed import default_client

    from footprints.distributed import close_started, start_on_first_task

    folder = tmp_path / "instance_masks"
    masks(folder, overwrite=True).save({"a": Keyed("ka", lambda: mask(1)), "b": Keyed("kb", lambda: mask(2))})
    start_on_first_task({"processes": False, "n_workers": 1, "threads_per_worker": 1})
    try:
        masks(folder, overwrite=True, parallel=True).save({"a": Keyed("ka", killed_after(0))})
        with pytest.raises(ValueError):
            default_client()  # no client was started
    finally:
        close_started()
    assert sorted(masks(folder).load()) == ["a"] and not (folder / "b.npz").exists()
    assert masks(folder).load()["a"]().label_ids.tolist() == [1]


def test_temp_files_of_a_killed_run_are_removed_on_the_next_save(tmp_path):
    folder = tmp_path / "instance_masks"
    folder.mkdir()
    (folder / ".a.npz.x1y2.part").write_bytes(b"half")
    masks(folder).save({"a": mask(1)})
    assert not list(folder.glob(".*.part"))


def test_an_absent_set_is_optional_or_named(tmp_path):
    assert masks(tmp_path / "none", optional=True).load() == {}
    with pytest.raises(InputError, match="no complete set of .npz there yet"):
        masks(tmp_path / "none").load()


def test_raster_folder_takes_tif_and_tiff_in_any_case_and_names_the_rest(tmp_path, caplog):
    for name in ("a.tif", "b.TIF", "c.tiff", "d.TIFF"):
        write_raster(tmp_path / name)
    (tmp_path / "readme.txt").write_text("x")
    folder = RasterFolderDataset(path=str(tmp_path), dataset="footprints.datasets.raster.GeoTIFFDataset")
    with caplog.at_level(logging.WARNING):
        assert sorted(folder.load()) == ["a", "b", "c", "d"]
    assert "1 files are not GeoTIFFs (.tif/.tiff) and are ignored: readme.txt" in caplog.text


def test_raster_folder_refuses_two_files_for_one_image_id(tmp_path):
    write_raster(tmp_path / "a.tif")
    write_raster(tmp_path / "a.TIFF")
    folder = RasterFolderDataset(path=str(tmp_path), dataset="footprints.datasets.raster.GeoTIFFDataset")
    with pytest.raises(InputError, match=r"a\.(tif|TIFF) and a\.(tif|TIFF) would be the same image id"):
        folder.load()

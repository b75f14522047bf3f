"""The run's Dask client: read from conf/<env>/dask.yml, started and closed by DaskHook, optional."""

from __future__ import annotations

import os
import shutil
from types import SimpleNamespace

import pytest

from footprints import distributed
from footprints.distributed import active_client, dask_settings, map_tasks, start_client
from footprints.errors import InputError
from footprints.hooks import DaskHook
from footprints.settings import CONFIG_LOADER_ARGS, ProjectConfigLoader
from tests.conftest import PROJECT


def config_loader(tmp_path, env: str | None = None, override: str | None = None) -> ProjectConfigLoader:
    """The project's loader on a copy of conf/base, with an optional conf/<env>/dask.yml override."""
    shutil.copytree(PROJECT / "conf/base", tmp_path / "conf/base")
    (tmp_path / "conf/local").mkdir()
    if override is not None:
        (tmp_path / "conf" / env).mkdir()
        (tmp_path / "conf" / env / "dask.yml").write_text(override)
    return ProjectConfigLoader(conf_source=str(tmp_path / "conf"), env=env, **CONFIG_LOADER_ARGS)


def test_settings_come_from_dask_yml_and_an_env_overrides_them(tmp_path):
    base = dask_settings(config_loader(tmp_path / "a")["dask"])
    assert base["enabled"] is True and base["address"] is None and base["processes"] is False
    cluster = dask_settings(config_loader(tmp_path / "b", "cluster", "dask:\n  address: tcp://scheduler:8786\n")
                            ["dask"])
    assert cluster["address"] == "tcp://scheduler:8786" and cluster["enabled"] is True


def test_a_misspelt_key_is_refused_in_one_line():
    with pytest.raises(InputError, match="unknown key.*adress"):
        dask_settings({"dask": {"adress": "tcp://x:8786"}})


def test_hook_starts_a_client_for_the_run_and_closes_it_on_failure(tmp_path):
    loader = config_loader(tmp_path, "small", "dask:\n  n_workers: 1\n  threads_per_worker: 2\n")
    hook = DaskHook()
    hook.after_context_created(SimpleNamespace(config_loader=loader))
    assert active_client() is None
    hook.before_pipeline_run()
    assert distributed._started is None  # no task yet: no cluster (a run without tasks never starts one)
    client = active_client()  # the first task's call
    assert client is not None and sum(client.nthreads().values()) == 2
    assert map_tasks(abs, [-1, -2, 3]) == [1, 2, 3]
    hook.on_pipeline_error()
    assert active_client() is None and client.status == "closed"


def test_disabled_dask_runs_tasks_in_this_process():
    assert start_client({"dask": {"enabled": False}}) is None
    assert active_client() is None
    assert map_tasks(lambda _: os.getpid(), range(3)) == [os.getpid()] * 3



def test_an_input_error_in_a_task_reaches_the_caller_unchanged(tmp_path):
    from footprints.datasets.raster import open_profile
    from footprints.distributed import close_client

    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff")
    client = start_client({"n_workers": 1, "threads_per_worker": 2})
    try:
        with pytest.raises(InputError, match="broken.tif: cannot read as a GeoTIFF"):
            map_tasks(open_profile, [bad], desc="opening")
    finally:
        close_client(client)

"""Shared fixtures and the CI rule (no skips under ``CI=true``): the shipped sample, the project's own parameters, a throw-away PostGIS server."""

from __future__ import annotations

import contextlib

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
pytest_plugins = ["tests.postgis_server"]


def pytest_configure(config: pytest.Config) -> None:
    """The third-party warnings ``footprints.quiet`` silences for users, silenced in test output too (pytest
    resets the warning filters for every test, so the ones settings.py installs do not reach the tests)."""
    from footprints.quiet import KNOWN_WARNINGS

    for category, message, module in KNOWN_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}:{category.__name__}:{module}")


def running_on_ci() -> bool:
    """``CI=true`` (or ``1``): the setup is part of what is tested, so nothing may be skipped."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under CI, any skip of any test (a missing server, browser or package...) is turned into a failure.

    The one place this rule lives: fixtures and tests just ``pytest.skip`` with a reason, which ``-ra`` lists
    at the end of a developer's run.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and running_on_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI is set, so this skip fails the run: {reason}"

PROJECT = Path(__file__).resolve().parents[1]
SAMPLE_IMAGE = PROJECT / "data/01_raw/images/tanzania_sample.tif"
SAMPLE_LABELS = PROJECT / "data/01_raw/labels/tanzania_sample.geojson"
ATLANTA = PROJECT / "tests/data/spacenet_atlanta"


@pytest.fixture(autouse=True)
def _no_tracking_uri_left_behind():
    """MLflow keeps a process-wide tracking URI once set (kedro-mlflow sets it on every tracked run, some tests
    set it to read a run back); left behind, with a run left active, it would send a later test's Kedro run to
    an earlier test's store.
    Only that override is cleared (``set_tracking_uri(None)`` would also drop the environment variable, which
    monkeypatch and settings.py own)."""
    yield
    if "mlflow" in sys.modules:
        import mlflow
        from mlflow.tracking._tracking_service import utils

        while mlflow.active_run() is not None:  # a run left open would become the parent of the next one
            mlflow.end_run()
        utils._tracking_uri = None


def project_params(pipeline: str) -> dict[str, Any]:
    """The shipped ``conf/base/parameters_<pipeline>.yml`` (tests use the real defaults, not copies)."""
    with open(PROJECT / f"conf/base/parameters_{pipeline}.yml") as handle:
        return yaml.safe_load(handle)[pipeline]


def cheap_run_params(epochs: int) -> dict[str, dict[str, Any]]:
    """``--params`` of a whole ``kedro run`` that costs minutes on a CPU: v1 from scratch for ``epochs``. An
    untrained model scores low: a low threshold still exercises polygons, merge and every writer."""
    return {"training": {"arch": "maskrcnn_resnet50_fpn", "epochs": epochs, "num_workers": 0, "pretrained": "none"},
            "inference": {"score_threshold": 0.05, "detections_per_tile": 15}}


@pytest.fixture(scope="session")
def sample_image() -> Path:
    return SAMPLE_IMAGE


@pytest.fixture(scope="session")
def sample_labels() -> Path:
    return SAMPLE_LABELS


def write_raster(path: Path, width: int = 300, height: int = 200, count: int = 3, dtype: str = "uint8",
                 crs: str | None = "EPSG:32737", nodata: float | None = None, transform=None,
                 fill=None) -> Path:
    """A real GeoTIFF written with rasterio: gradient pixels, north-up 0.5 m grid in UTM 37S by default."""
    import numpy as np
    import rasterio
    from affine import Affine

    transform = transform or Affine(0.5, 0, 532850.0, 0, -0.5, 9366850.0)
    data = fill if fill is not None else (
        np.indices((height, width)).sum(axis=0) % 200 + np.arange(count)[:, None, None]).astype(dtype)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=dtype,
                       crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(np.broadcast_to(data, (count, height, width)))
    return path


def warp_raster(src: Path, dst: Path, crs: str) -> Path:
    """A copy of a GeoTIFF warped to another CRS (nearest neighbour, outside = nodata 0), as gdalwarp would."""
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(src) as source:
        transform, width, height = calculate_default_transform(source.crs, crs, source.width, source.height,
                                                               *source.bounds)
        profile = {**source.profile, "crs": crs, "transform": transform, "width": width, "height": height,
                   "nodata": 0, "driver": "GTiff"}
        with rasterio.open(dst, "w", **profile) as target:
            for band in range(1, source.count + 1):
                reproject(rasterio.band(source, band), rasterio.band(target, band), resampling=Resampling.nearest,
                          dst_nodata=0)
    return dst


@pytest.fixture(scope="session")
def warped_sample(tmp_path_factory):
    """The shipped sample warped to a CRS (cached per CRS for the session): ``warped_sample("EPSG:4326")``."""
    folder = tmp_path_factory.mktemp("warped")

    def warp(crs: str) -> Path:
        path = folder / f"tanzania_sample_{crs.replace(':', '')}.tif"
        return path if path.is_file() else warp_raster(SAMPLE_IMAGE, path, crs)
    return warp


@pytest.fixture
def make_raster(tmp_path):
    """Factory of real GeoTIFFs in the test's temp dir."""
    def factory(name: str = "image.tif", **kwargs) -> Path:
        return write_raster(tmp_path / name, **kwargs)
    return factory


def copy_project(where: Path) -> Path:
    """The project's conf and raw data copied into ``where`` (its outputs and mlflow.db land there)."""
    import shutil

    root = where / "project"
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=lambda folder, _: _user_files(Path(folder)))
    shutil.copytree(PROJECT / "data/01_raw", root / "data/01_raw")
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()  # the package itself is installed; Kedro only checks the folder exists
    return root


@pytest.fixture
def project_copy(tmp_path, monkeypatch) -> Path:
    """A project copy in the test's temp dir, with the working directory and MLflow store moved into it."""
    root = copy_project(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    return root


@contextlib.contextmanager
def inside(root: Path) -> Iterator[pytest.MonkeyPatch]:
    """Working directory and MLflow store moved into a project copy, for module-scoped fixtures (undone after)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        yield patch


def _user_files(folder: Path) -> list[str]:
    """What a developer keeps in conf/local (their credentials) never reaches a test project."""
    return [p.name for p in folder.iterdir() if p.name != "README.md"] if folder.name == "local" else []


def run_kedro(root: Path, pipelines: list[str], env: str | None = None,
              params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``kedro run`` through a real KedroSession on a project copy."""
    import logging

    handlers = list(logging.getLogger().handlers)  # pytest's caplog among them, before Kedro is imported

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project


    def keep_handlers() -> None:  # Kedro applies conf/logging.yml (on import), which replaces root handlers
        for handler in handlers:
            if handler not in logging.getLogger().handlers:
                logging.getLogger().addHandler(handler)

    bootstrap_project(root)
    keep_handlers()
    with KedroSession.create(project_path=root, env=env, runtime_params=params or {}) as session:
        keep_handlers()
        return session.run(pipeline_names=pipelines)

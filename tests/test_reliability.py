"""Faults a long job meets: a run killed mid-way, a database that stops or is shared, credentials in logs.

Every test uses real processes: ``kedro run`` subprocesses killed with SIGKILL, a PostGIS server started and
stopped by the test, concurrent writers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import sqlalchemy as sa
import yaml
from shapely.geometry import box

from footprints.datasets.postgis import PostGISTableDataset
from footprints.datasets.weights import ModelWeightsDataset
from footprints.model import ModelWeights, build_model
from tests.conftest import project_params, write_raster
from tests.postgis_server import start_server

pytestmark = pytest.mark.slow  # whole kedro runs / training: `pytest -m "not slow"` skips them


def kedro_process(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``kedro run`` in a subprocess of its own session, so SIGKILL takes it and its workers down together."""
    environment = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
                   "KEDRO_DISABLE_TELEMETRY": "true", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "kedro", "run", *args], cwd=root, env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def kedro_ok(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    process = kedro_process(root, *args, env=env)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


def kill_when(process: subprocess.Popen, folder: Path, pattern: str, count: int, timeout: float = 300) -> None:
    """SIGKILL the run as soon as ``count`` files match in ``folder`` (it must still be running then)."""
    deadline = time.monotonic() + timeout
    while len(list(folder.glob(pattern))) < count:
        assert process.poll() is None, "the run ended before it could be interrupted: make the job bigger"
        assert time.monotonic() < deadline, "the run never got that far"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def modified(folder: Path, pattern: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob(pattern)}


def untrained_weights(root: Path) -> None:
    """A real weights file as training writes it (small v1 model, random weights): inference can run."""
    params = project_params("training")
    config = {**{k: params[k] for k in ("bands", "mean", "std")}, "arch": "maskrcnn_resnet50_fpn",
              "tile_size": project_params("preprocessing")["tile_size"]}
    model = build_model(config["arch"], tile_size=config["tile_size"], pretrained="none")
    ModelWeightsDataset(filepath=str(root / "data/06_models/model.safetensors")).save(
        ModelWeights(model.state_dict(), config))


def test_killed_tiling_leaves_only_whole_tiles_and_resumes(project_copy):
    image = project_copy / "data/01_raw/images/big.tif"
    write_raster(image, width=4096, height=4096, count=3)
    tiles = project_copy / "data/02_intermediate/tiles"
    kill_when(kedro_process(project_copy, "--pipelines", "preprocessing"), tiles, "big_*.tif", 8)

    written = modified(tiles, "*.tif")
    for name in written:
        with rasterio.open(tiles / name) as tile:  # every visible tile is complete and readable
            assert tile.read().shape == (3, 512, 512)
    assert not (project_copy / "data/02_intermediate/tile_index.gpkg").exists()

    started = time.monotonic()
    kedro_ok(project_copy, "--pipelines", "preprocessing")
    index = gpd.read_file(project_copy / "data/02_intermediate/tile_index.gpkg")
    after = modified(tiles, "*.tif")
    assert set(after) == set(index.tile_id + ".tif")
    assert all(after[name] == stamp for name, stamp in written.items())  # not written again
    print(f"\nresumed tiling in {time.monotonic() - started:.1f} s, {len(after) - len(written)} tiles left")


def buildings_over(image: Path, spacing: float, condition: str) -> gpd.GeoDataFrame:
    """A grid of 4 m square buildings every ``spacing`` metres over the raster written at ``image``."""
    with rasterio.open(image) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs
    xs, ys = np.meshgrid(np.arange(left + 5, right - 5, spacing), np.arange(bottom + 5, top - 5, spacing))
    geometry = [box(x, y, x + 4, y + 4) for x, y in zip(xs.ravel(), ys.ravel())]
    return gpd.GeoDataFrame({"condition": [condition] * len(geometry)}, geometry=geometry, crs=crs)


def test_killed_mask_writing_is_not_trusted_and_a_rerun_replaces_every_mask(project_copy):
    raw = project_copy / "data/01_raw"
    (raw / "images/tanzania_sample.tif").unlink()
    image = write_raster(raw / "images/big.tif", width=4096, height=4096)
    labels = raw / "labels/tanzania_sample.geojson"
    buildings_over(image, 20, "Complete").to_file(labels)
    kedro_ok(project_copy, "--pipelines", "preprocessing,labels")
    folder = project_copy / "data/03_primary/instance_masks"
    manifest = folder / "_npz.manifest"
    assert manifest.is_file()

    buildings_over(image, 30, "Incomplete").to_file(labels)  # new labels: every mask changes
    process = kedro_process(project_copy, "--pipelines", "labels")
    deadline = time.monotonic() + 300
    while manifest.exists() or not 5 <= len(list(folder.glob("*.npz"))) < 60:
        assert process.poll() is None, "the run ended before it could be interrupted: make the job bigger"
        assert time.monotonic() < deadline, "the run never got that far"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    refused = kedro_process(project_copy, "--pipelines", "training")  # would have trained on a mix before
    output, _ = refused.communicate(timeout=600)
    assert refused.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "no _npz.manifest: the run writing them was stopped" in output

    kedro_ok(project_copy, "--pipelines", "labels")
    members = json.loads(manifest.read_text())["members"]
    index = gpd.read_file(project_copy / "data/03_primary/labelled_tile_index.gpkg")
    assert sorted(members) == sorted(index.tile_id + ".npz") == sorted(p.name for p in folder.glob("*.npz"))
    classes = {int(c) for path in folder.glob("*.npz") for c in np.load(path)["class_ids"]}
    assert classes == {2}  # every mask comes from the new labels (incomplete), none from the old ones


def test_killed_inference_leaves_only_whole_documents_and_resumes(project_copy):
    kedro_ok(project_copy, "--pipelines", "preprocessing")
    kedro_ok(project_copy, "--pipelines", "labels")
    untrained_weights(project_copy)
    args = ("--pipelines", "inference", "--params", "inference.tiles=all,inference.detections_per_tile=10,"
            "inference.batch_size=1")
    folder = project_copy / "data/07_model_output/tile_predictions"
    started = time.monotonic()
    kill_when(kedro_process(project_copy, *args), folder, "*.json", 2)
    killed_after = time.monotonic() - started

    done = modified(folder, "*.json")
    assert all(json.loads((folder / name).read_text())["instances"] is not None for name in done)
    assert not (project_copy / "data/07_model_output/challenge_csv").exists()

    started = time.monotonic()
    kedro_ok(project_copy, *args)
    resumed = time.monotonic() - started
    after = modified(folder, "*.json")
    assert len(after) == 9 and all(after[name] == stamp for name, stamp in done.items())
    started = time.monotonic()
    kedro_ok(project_copy, *args)  # nothing left to predict
    nothing = time.monotonic() - started
    assert modified(folder, "*.json") == after
    print(f"\ninference: killed after {killed_after:.1f} s with {len(done)} tiles, resumed in {resumed:.1f} s, "
          f"re-run with nothing to do {nothing:.1f} s")


def test_killed_training_resumes_from_its_checkpoint_into_the_same_mlflow_run(project_copy):
    from mlflow.tracking import MlflowClient

    kedro_ok(project_copy, "--pipelines", "preprocessing")
    kedro_ok(project_copy, "--pipelines", "labels")
    args = ("--pipelines", "training", "--params",
            "training.epochs=3,training.num_workers=0,training.pretrained=none,training.batch_size=2")
    checkpoints = project_copy / "data/06_models/checkpoints"
    kill_when(kedro_process(project_copy, *args), checkpoints, "*.json", 1)
    saved = json.loads(next(checkpoints.glob("*.json")).read_text())
    assert saved["epoch"] >= 1 and saved["mlflow_run_id"]

    output = kedro_ok(project_copy, *args)
    assert f"resuming after epoch {saved['epoch']}" in output
    assert not list(checkpoints.glob("*.pt"))  # a finished run needs its checkpoint no more
    client = MlflowClient(tracking_uri=f"sqlite:///{project_copy / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("footprints").experiment_id])
    assert [run.info.run_id for run in runs] == [saved["mlflow_run_id"]]  # one run, the one that was killed
    assert runs[0].info.status == "FINISHED"
    losses = client.get_metric_history(saved["mlflow_run_id"], "training.loss")
    assert sorted(m.step for m in losses) == [1, 2, 3]


@pytest.mark.postgis
def test_postgis_run_keeps_the_password_out_of_logs_and_mlflow(project_copy, postgis_url, postgis_engine):
    role, password = "footprints_runner", "Sekret-7f3a9-known"
    with postgis_engine.begin() as connection:
        connection.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))  # constant test identifiers
        connection.execute(sa.text(f"CREATE ROLE \"{role}\" LOGIN SUPERUSER PASSWORD '{password}'"))
    url = sa.make_url(postgis_url).set(username=role, password=password)
    credentials = {"postgis": {"con": url.render_as_string(hide_password=False)}}
    (project_copy / "conf/local/credentials.yml").write_text(yaml.safe_dump(credentials))
    untrained_weights(project_copy)

    output = kedro_ok(project_copy, "--env", "postgis", "--pipelines", "preprocessing,labels")
    output += kedro_ok(project_copy, "--env", "postgis", "--pipelines", "inference", "--params",
                       "inference.tiles=all,inference.detections_per_tile=5,inference.score_threshold=0.0")

    with postgis_engine.connect() as connection:
        runs = connection.execute(sa.text("SELECT DISTINCT run_id, image_id FROM predictions")).all()
    assert len(runs) == 1 and runs[0].run_id and runs[0].image_id == "tanzania_sample"
    assert password not in output
    stores = [project_copy / "mlflow.db", *project_copy.glob("mlruns/**/*"), *project_copy.glob("mlartifacts/**/*")]
    for path in stores:
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path


@pytest.mark.postgis
def test_concurrent_prediction_writers_do_not_clobber_each_other(postgis_url, pg_schema):
    def predictions(run_id: str, n: int) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame({"image_id": ["img"] * n, "run_id": [run_id] * n, "building_id": range(n)},
                                geometry=[box(i, 0, i + 1, 1) for i in range(n)], crs="EPSG:4326")

    table = {"table": "predictions", "schema": pg_schema, "credentials": {"con": postgis_url},
             "save_args": {"mode": "append", "replace_where": ["run_id", "image_id"]}}
    PostGISTableDataset(**table).save(predictions("seed", 1))  # the table exists before the race
    errors = []

    def write(run_id: str) -> None:
        try:
            for _ in range(3):
                PostGISTableDataset(**table).save(predictions(run_id, 500))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(run,)) for run in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    counts = PostGISTableDataset(**{**table, "save_args": {}}).load().groupby("run_id").size().to_dict()
    assert counts == {"seed": 1, "run-a": 500, "run-b": 500}


@pytest.mark.postgis
def test_server_stopped_mid_save_leaves_the_previous_table(tmp_path):
    server = _server_module()
    folder = tmp_path / "pg"
    url = start_server(folder)["FOOTPRINTS_TEST_PG_URL"]
    try:
        table = {"table": "tile_index", "credentials": {"con": url}}
        before = gpd.GeoDataFrame({"tile_id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
                                  crs="EPSG:32737")
        PostGISTableDataset(**table).save(before)
        big = gpd.GeoDataFrame({"tile_id": [f"t{i}" for i in range(300_000)]},
                               geometry=[box(i, 0, i + 1, 1) for i in range(300_000)], crs="EPSG:32737")
        failure: list[Exception] = []
        saver = threading.Thread(target=_save_or_record, args=(PostGISTableDataset(**table), big, failure))
        saver.start()
        time.sleep(1.5)  # the replace is under way inside its transaction
        server.pg_ctl(folder, "stop", mode="immediate")  # as if the server crashed
        saver.join()
        assert failure and "\n" not in str(failure[0]) and "127.0.0.1" in str(failure[0])
        server.pg_ctl(folder, "start")
        after = PostGISTableDataset(**table).load()
        assert sorted(after.tile_id) == ["a", "b"]
    finally:
        server.stop(folder)


def _save_or_record(dataset: PostGISTableDataset, frame: gpd.GeoDataFrame, failure: list) -> None:
    try:
        dataset.save(frame)
    except Exception as err:  # noqa: BLE001 - the test inspects it
        failure.append(err)


def _server_module():
    from tests.postgis_server import _server_module as load

    return load()

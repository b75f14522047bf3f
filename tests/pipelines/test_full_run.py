"""The whole default pipeline through KedroSession on the shipped sample (small, fast settings), then reuse
of the trained model by MLflow run id and by registered name, as a user would from the command line."""

import json
import shutil

import geopandas as gpd
import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from footprints.postprocess.challenge import CSV_COLUMNS
from tests.conftest import cheap_run_params, run_kedro

pytestmark = pytest.mark.slow  # whole kedro runs / training: `pytest -m "not slow"` skips them

FAST = cheap_run_params(epochs=2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests.conftest import copy_project, inside

    root = copy_project(tmp_path_factory.mktemp("full"))
    with inside(root) as patch:
        run_kedro(root, ["__default__"], params=FAST)
        mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
        [run] = MlflowClient().search_runs(experiment_ids=[MlflowClient().get_experiment_by_name(
            "footprints").experiment_id])
        yield root, run, patch


def test_mlflow_run_holds_params_metrics_weights_and_evaluation(trained):
    _, run, _ = trained
    client = MlflowClient()
    assert run.info.status == "FINISHED"
    assert run.data.params["training.arch"] == "maskrcnn_resnet50_fpn"  # flattened parameters
    history = client.get_metric_history(run.info.run_id, "training.loss_mask")
    assert [m.step for m in history] == [1, 2]  # per epoch
    assert {"training.val_loss", "training.loss_classifier", "evaluation.f1_all_buildings",
            "evaluation.mask_map"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model", "evaluation"} <= artifacts
    assert [a.path for a in client.list_artifacts(run.info.run_id, "model")] == ["model/model.safetensors"]
    plots = {a.path.split("/")[-1] for a in client.list_artifacts(run.info.run_id, "evaluation/plots")}
    assert {"loss_curves.png", "tile_gallery.png", "map_overlay.png"} <= plots
    assert client.get_registered_model("footprints-maskrcnn").latest_versions


def test_run_and_model_version_say_what_ran_from_which_weights_on_which_data(trained):
    root, run, _ = trained
    tags = run.data.tags
    assert tags["footprints.weights_origin"] == "scratch" and tags["footprints.pipelines"] == "__default__"
    assert len(tags["footprints.data_fingerprint"]) == 16 and tags["footprints.git_commit"]
    assert run.info.run_name.startswith("__default__ | maskrcnn_resnet50_fpn from scratch")
    [version] = MlflowClient().search_model_versions(f"run_id='{run.info.run_id}'")
    card = version.description
    assert "Classes: complete, incomplete, foundation" in card and "mean [123.7, 116.3, 103.5]" in card
    assert "started from scratch" in card and "f1_all_buildings" in card
    provenance = json.loads((root / "data/08_reporting/training_provenance.json").read_text())
    assert provenance["train_images"] == provenance["val_images"] == ["tanzania_sample"]
    assert provenance["train_tiles"] > 0 and provenance["weights_origin"] == "scratch"
    report = (root / "data/08_reporting/report.md").read_text()
    section = report.split("## Training provenance\n\n")[1].split("\n## ")[0]
    assert "started from random weights" in section and "COCO weights placed in the torch cache" in section
    assert f"Trained on {provenance['train_tiles']} tiles" in section
    assert "Scores cover" in section and "tanzania_sample" in section


def test_outputs_per_image_and_per_tile(trained):
    root, run, _ = trained
    out = root / "data/07_model_output"
    split = pd.read_csv(root / "data/05_model_input/tile_split.csv")
    predicted = sorted(p.stem for p in (out / "tile_predictions").glob("*.json"))
    assert predicted == sorted(split.tile_id[split.split.isin(["val", "unlabelled"])])
    doc = json.loads((out / "tile_predictions" / f"{predicted[0]}.json").read_text())
    assert doc["crs"] == "EPSG:32737" and doc["model"]["run_id"] == run.info.run_id
    csv = pd.read_csv(out / "challenge_csv/tanzania_sample.csv")
    assert list(csv.columns) == CSV_COLUMNS
    buildings = gpd.read_file(out / "buildings/tanzania_sample.gpkg")
    assert buildings.crs == "EPSG:32737" and len(buildings) == len(csv)
    assert gpd.read_file(out / "buildings/tanzania_sample.geojson").crs == "EPSG:4326"
    assert (root / "data/08_reporting/report.md").read_text().startswith("# Evaluation report")


@pytest.mark.parametrize("uri", ["runs:/{run_id}/model", "models:/footprints-maskrcnn/1"])
def test_inference_reuses_a_previous_model(trained, uri):
    root, run, _ = trained
    uri = uri.format(run_id=run.info.run_id)
    shutil.rmtree(root / "data/07_model_output/tile_predictions")
    run_kedro(root, ["inference"], params={"model_uri": uri, "inference": FAST["inference"]})
    doc = json.loads(next((root / "data/07_model_output/tile_predictions").glob("*.json")).read_text())
    assert doc["model"]["source"] == uri


def test_rerun_predicts_only_tiles_without_a_prediction_by_the_same_weights(trained):
    root, _, _ = trained
    folder = root / "data/07_model_output/tile_predictions"
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}
    removed = sorted(before)[0]
    (folder / removed).unlink()  # as if the run had been killed before writing it
    run_kedro(root, ["inference"], params={"inference": FAST["inference"]})
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}
    assert set(after) == set(before)
    assert [name for name in after if after[name] != before.get(name)] == [removed]

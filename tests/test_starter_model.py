"""The starter model shipped in models/ loads through every path a user has and finds the sample's buildings.

It never saw the sample (models/starter-resnet18-gn.md): its validation tiles are held-out ground. Paths:
``footprints predict``, the inference pipeline (``--params model_uri=``), the MLflow pyfunc with a
``score_threshold`` param, and training, which fine-tunes from it by default (``pretrained: auto``).
"""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from click.testing import CliRunner

from footprints.__main__ import cli
from footprints.evaluation.matching import ALL_BUILDINGS
from footprints.model import read_weights
from footprints.pipelines.reporting.nodes import evaluation_frames, score_buildings
from tests.conftest import PROJECT, SAMPLE_IMAGE, SAMPLE_LABELS, run_kedro

pytestmark = pytest.mark.slow

STARTER = PROJECT / "models/starter-resnet18-gn.safetensors"
REQUIRED_RECALL = 0.3  # share of the buildings matched at IoU 0.5 (the model card measures 0.71 on the whole sample)


@pytest.fixture(scope="module")
def labelled_copy(tmp_path_factory):
    """A project copy with the starter model in models/, tiled and labelled."""
    from tests.conftest import copy_project, inside

    root = copy_project(tmp_path_factory.mktemp("starter"))
    shutil.copytree(PROJECT / "models", root / "models")
    with inside(root):
        run_kedro(root, ["preprocessing", "labels"])
        yield root


def held_out_scores(root):
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path=root) as session:
        catalog = session.load_context().catalog
        frames = evaluation_frames(*(catalog.load(name) for name in ("buildings_gpkg", "label_database",
                                                                     "tile_index", "tile_split")))
    per_class, _ = score_buildings(frames, {"iou_threshold": 0.5})
    return per_class.set_index("class_name").loc[ALL_BUILDINGS]


def test_inference_pipeline_with_the_starter_model_finds_the_validation_buildings(labelled_copy):
    from tests.conftest import inside

    with inside(labelled_copy):
        run_kedro(labelled_copy, ["inference"], params={"model_uri": str(labelled_copy / STARTER.relative_to(PROJECT))})
        scores = held_out_scores(labelled_copy)
    assert scores["recall"] >= REQUIRED_RECALL, scores.to_dict()


def test_training_fine_tunes_from_the_starter_model_by_default(labelled_copy):
    from tests.conftest import inside

    with inside(labelled_copy):
        run_kedro(labelled_copy, ["training"], params={"training": {"epochs": 1, "num_workers": 0}})
    trained = read_weights(labelled_copy / "data/06_models/model.safetensors").config["training"]
    assert trained["weights_origin"].startswith("fine-tuned from ")
    assert trained["weights_origin"].endswith(str(STARTER.relative_to(PROJECT)))


def test_predict_command_with_the_starter_model_finds_the_sample_buildings(tmp_path):
    result = CliRunner().invoke(cli, ["predict", str(STARTER), str(SAMPLE_IMAGE), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    found = gpd.read_file(tmp_path / "buildings/tanzania_sample.gpkg")
    with rasterio.open(SAMPLE_IMAGE) as src:
        image = shapely.box(*src.bounds)
    truth = gpd.read_file(SAMPLE_LABELS).to_crs(found.crs)
    truth = truth[truth.intersection(image).area >= 0.5 * truth.area]  # the file covers more than the image
    assert len(found) and found.is_valid.all()
    hits = sum(bool((found.intersection(t).area / found.union(t).area >= 0.5).any()) for t in truth.geometry)
    assert hits / len(truth) >= REQUIRED_RECALL


def test_mlflow_pyfunc_of_the_starter_model_takes_a_score_threshold(tmp_path):
    import mlflow

    from footprints.datasets.detector_model import detector_signature
    from footprints.datasets.raster import GeoTIFFDataset
    from footprints.model.mlflow_model import BuildingDetector

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("starter")  # not the experiment an earlier test's run left active
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="detector", python_model=BuildingDetector(),
                                       artifacts={"weights": str(STARTER)}, signature=detector_signature())
    model = mlflow.pyfunc.load_model(info.model_uri)
    tile = GeoTIFFDataset(filepath=str(SAMPLE_IMAGE), lazy=True).load().read().array[:, :512, :512]
    strict, loose = (model.predict(np.stack([tile]), params={"score_threshold": t})[0] for t in (0.95, 0.05))
    assert len(loose) > len(strict) and len(loose) > 0
    assert all(0.05 <= instance["score"] for instance in loose)

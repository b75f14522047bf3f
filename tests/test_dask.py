"""Tiling, mask rasterising, inference per shard of tiles and merging on a real 2-process Dask LocalCluster
give the in-process outputs, also when a worker dies in the middle of the work."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import shape

from footprints.datasets.documents import JSONDocumentDataset
from footprints.datasets.masks import InstanceMasksDataset
from footprints.datasets.partitions import ParallelPartitionedDataset, TileDocumentsDataset, TileImagesDataset
from footprints.datasets.raster import GeoTIFFDataset
from footprints.datasets.vector import VectorFileDataset
from footprints.distributed import close_client, start_client
from footprints.geo import TileGrid
from footprints.model.weights import ModelWeights
from footprints.pipelines.inference.nodes import predict_tiles
from footprints.pipelines.labels.nodes import build_instance_masks, clean_labels, query_tile_labels
from footprints.pipelines.preprocessing.nodes import tile_images
from footprints.postprocess.merge_images import merge_images
from footprints.postprocess.tile_polygons import tile_prediction
from tests.conftest import project_params
from tests.postprocess.test_oracle_roundtrip import oracle_instances

TILING = {**project_params("preprocessing"), "tile_size": 256, "overlap": 32}
IMAGES = ("tanzania_a", "tanzania_b")  # the sample under two names: two rasters, two merge tasks
PREDICTED = 6  # tiles the model predicts, in shards of 2: three inference tasks for two workers


class KillOnce:
    """A lazy partition (tile or document loader) that kills its own worker process the first time it is
    called, as an out-of-memory kill or a lost node would; the marker file makes the retry succeed."""

    def __init__(self, inner, marker: Path) -> None:
        self.inner, self.marker = inner, marker

    def __call__(self):
        if not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner()


def run_stages(root: Path, sample_labels: Path, weights: ModelWeights, kill_marker: Path | None = None,
               shards: bool = True) -> dict:
    """Tiles, tile index, masks, tile JSON of a model and merged buildings of the two images, with whatever
    client is current; inference per shard (``shards``) or streamed in this process."""
    raws = {i: GeoTIFFDataset(filepath=str(root.parent / "raw" / f"{i}.tif"), lazy=True).load for i in IMAGES}
    tiles, index = tile_images(raws, {}, TILING)
    if kill_marker is not None:
        middle = sorted(tiles)[len(tiles) // 2]
        tiles[middle] = KillOnce(tiles[middle], kill_marker)
    TileImagesDataset(path=str(root / "tiles"), filename_suffix=".tif", dataset=GeoTIFFDataset.__module__ +
                      ".GeoTIFFDataset", batch_size=4).save(tiles)
    labels, _ = clean_labels(VectorFileDataset(filepath=str(sample_labels)).load(), index, project_params("labels"))
    store = VectorFileDataset(filepath=str(root / "labels.gpkg"), layer="labels", lazy=True)
    store.save(labels)
    instances, labelled = query_tile_labels(store.load(), index)
    masks_ds = ParallelPartitionedDataset(path=str(root / "masks"), filename_suffix=".npz",
                                          dataset=InstanceMasksDataset, batch_size=4)
    masks_ds.save(build_instance_masks(instances, labelled))
    masks = masks_ds.load()
    params = project_params("inference")
    predict(root, TileImagesDataset(path=str(root / "tiles"), filename_suffix=".tif",
                                    dataset=GeoTIFFDataset.__module__ + ".GeoTIFFDataset").load(),
            index.sort_values("tile_id").head(PREDICTED), weights, params, shards, kill_marker)
    loaders = {}
    for row in labelled.itertuples():
        doc_ds = JSONDocumentDataset(filepath=str(root / "docs" / f"{row.tile_id}.json"))
        doc_ds.save(tile_prediction(TileGrid.from_index_row(row), oracle_instances(masks[row.tile_id]()),
                                    params["polygons"], {"oracle": True}))
        loaders[row.tile_id] = doc_ds.load
    if kill_marker is not None:
        first = sorted(loaders)[0]
        loaders[first] = KillOnce(loaders[first], kill_marker.with_suffix(".merge"))
    merged = merge_images(loaders, list(labelled.tile_id), params["merge"])
    return {"index": index, "merged": merged, "root": root}


def predict(root: Path, tiles: dict, index, weights: ModelWeights, params: dict, shards: bool,
            kill_marker: Path | None) -> None:
    """The inference node's tile JSON, saved as the catalog saves it; a worker dies in one shard if asked."""
    if kill_marker is not None:
        tile_id = index.tile_id.iloc[-1]
        tiles[tile_id] = KillOnce(tiles[tile_id], kill_marker.with_suffix(".predict"))
    settings = {**params, "device": "cpu", "score_threshold": 0.05, "detections_per_tile": 5,
                "shards": {"enabled": shards, "tiles": 2, "resources": None}}
    documents, _ = predict_tiles(tiles, index, weights, {}, {"run_id": None, "experiment_id": None}, settings)
    TileDocumentsDataset(path=str(root / "predictions"), filename_suffix=".json",
                         dataset=JSONDocumentDataset.__module__ + ".JSONDocumentDataset").save(documents)


@pytest.fixture(scope="module")
def weights() -> ModelWeights:
    """An untrained, seeded v1 model: its detections are noise, but the same noise wherever it runs."""
    import torch

    from footprints.model import build_model

    torch.manual_seed(0)
    model = build_model("maskrcnn_resnet50_fpn", tile_size=TILING["tile_size"], pretrained="none")
    config = {"arch": "maskrcnn_resnet50_fpn", "tile_size": TILING["tile_size"], "bands": [1, 2, 3],
              "mean": [100.0, 100.0, 100.0], "std": [50.0, 50.0, 50.0]}
    return ModelWeights(model.state_dict(), config, "seeded-untrained")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, sample_image) -> Path:
    root = tmp_path_factory.mktemp("dask")
    (root / "raw").mkdir()
    for image_id in IMAGES:
        shutil.copy(sample_image, root / "raw" / f"{image_id}.tif")
    return root


@pytest.fixture(scope="module")
def in_process(workdir, sample_labels, weights) -> dict:
    """The single-process default (no client, inference streamed), computed before the cluster starts."""
    return run_stages(workdir / "in_process", sample_labels, weights, shards=False)


@pytest.fixture(scope="module")
def cluster(in_process, workdir):
    client = start_client({"processes": True, "n_workers": 2, "threads_per_worker": 1,
                           "local_directory": str(workdir / "dask")})
    yield client
    close_client(client)


def assert_same_outputs(got: dict, want: dict) -> None:
    assert_geodataframe_equal(got["index"], want["index"])
    for kind in ("tiles", "masks", "predictions"):
        names = sorted(p.name for p in (want["root"] / kind).iterdir())
        assert sorted(p.name for p in (got["root"] / kind).iterdir()) == names  # no leftover .part, no extra
        assert names and all(not n.startswith(".") for n in names)
    for path in sorted((want["root"] / "tiles").glob("*.tif")):  # manifests hold write times: not compared
        assert (got["root"] / "tiles" / path.name).read_bytes() == path.read_bytes(), path.name
    for path in sorted((want["root"] / "masks").glob("*.npz")):
        a = InstanceMasksDataset(filepath=str(path)).load()
        b = InstanceMasksDataset(filepath=str(got["root"] / "masks" / path.name)).load()
        for field in ("masks", "class_ids", "label_ids"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    predictions = sorted((want["root"] / "predictions").glob("*.json"))
    assert len(predictions) == PREDICTED and sum(len(json.loads(p.read_text())["instances"]) for p in predictions)
    for path in predictions:
        assert_same_document(json.loads((got["root"] / "predictions" / path.name).read_text()),
                             json.loads(path.read_text()))
    assert sorted(got["merged"]) == sorted(want["merged"]) == list(IMAGES)
    for image_id, (buildings, n_detections) in want["merged"].items():
        assert len(buildings) > 0
        assert got["merged"][image_id][1] == n_detections
        assert_geodataframe_equal(got["merged"][image_id][0], buildings)


def assert_same_document(got: dict, want: dict) -> None:
    """The same detections: a worker's torch runs on one thread, this process's on two, and the sums of a
    convolution then differ in the last float bits (scores within 1e-4, masks within a pixel here and there)."""
    assert {k: v for k, v in got.items() if k != "instances"} == {k: v for k, v in want.items() if k != "instances"}
    assert [i["class"] for i in got["instances"]] == [i["class"] for i in want["instances"]]
    for a, b in zip(got["instances"], want["instances"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-4)
        one, other = shape(a["geometry"]), shape(b["geometry"])
        assert one.intersection(other).area / one.union(other).area >= 0.99


def test_two_worker_processes_give_the_in_process_outputs(cluster, in_process, workdir, sample_labels, weights):
    assert len(cluster.scheduler_info()["workers"]) == 2
    assert_same_outputs(run_stages(workdir / "dask_run", sample_labels, weights), in_process)


@pytest.mark.slow  # two worker processes are killed and restarted: ~20 s on 2 busy cores
def test_a_killed_worker_is_replaced_and_outputs_are_complete_once(cluster, in_process, workdir, sample_labels,
                                                                   weights):
    marker = workdir / "killed"
    got = run_stages(workdir / "killed_run", sample_labels, weights, kill_marker=marker)
    assert all(marker.with_suffix(s).exists() for s in ("", ".predict", ".merge"))  # all three kills happened
    assert_same_outputs(got, in_process)

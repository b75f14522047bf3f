"""Nodes of the inference pipeline: thin wrappers around ``footprints.model`` and ``footprints.postprocess``."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import geopandas as gpd
import pandas as pd
import torch

from footprints.datasets.raster import Raster, RasterSource
from footprints.model.weights import ModelWeights
from footprints.geo import WGS84, TileGrid
from footprints.model import build_model, predict_tiles as run_model, resolve_device
from footprints.pipelines.training.nodes import NODATA, check_tiles, tile_pixels
from footprints.postprocess.challenge import challenge_table
from footprints.postprocess.merge_images import merge_images
from footprints.postprocess.tile_polygons import tile_prediction

log = logging.getLogger(__name__)

PREDICTED_SPLITS = {"holdout": {"val", "unlabelled"}, "all": {"train", "val", "buffer", "unlabelled"}}


def predict_tiles(tiles: dict[str, Callable[[], Raster]], tile_index: gpd.GeoDataFrame, tile_split: pd.DataFrame,
                  model_weights: ModelWeights, existing_tile_predictions: dict[str, Callable[[], dict]],
                  mlflow_run: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Run the model over the chosen tiles; one JSON-ready document per tile, polygons in map coordinates.

    ``params.tiles``: ``holdout`` (default: tiles not used for training, i.e. validation tiles and images
    without labels) or ``all``. A tile whose document on disk has the same reuse key (same weights, same
    inference settings, same source raster and tile grid: e.g. from an interrupted run) is not predicted again.

    Returns:
        Lazy new documents (computed while they are saved), and the ids of all chosen tiles (new and reused).
    """
    config = model_weights.config
    chosen = set(tile_split.tile_id[tile_split.split.isin(PREDICTED_SPLITS[params["tiles"]])])
    rows = [row for row in tile_index.itertuples() if row.tile_id in chosen]
    fingerprint = model_weights.fingerprint
    keys = {row.tile_id: reuse_key(fingerprint, params, row) for row in rows}
    todo = [row for row in rows if not _already_predicted(existing_tile_predictions.get(row.tile_id),
                                                           keys[row.tile_id])]
    check_tiles(tiles, tile_split[tile_split.tile_id.isin({row.tile_id for row in todo})], config["bands"],
                "the model's bands")
    log.info("%d tiles chosen, %d already predicted with these weights and settings (%s)", len(rows),
             len(rows) - len(todo),
             model_weights.source)
    model = build_model(arch=config["arch"], tile_size=config["tile_size"], pretrained="none",
                        in_channels=len(config["bands"]), state_dict=model_weights.state_dict,
                        weights_name=model_weights.source)
    model.roi_heads.detections_per_img = params["detections_per_tile"]
    model_ref = {"source": model_weights.source, "fingerprint": fingerprint, **mlflow_run}
    todo = sorted(todo, key=lambda row: row.tile_id)  # the order PartitionedDataset saves partitions in
    images = ((row.tile_id, tile_pixels(tiles[row.tile_id])) for row in todo)
    detections = run_model(model, images, config["bands"], config["mean"], config["std"],
                           resolve_device(params["device"]), batch_size=params["batch_size"],
                           score_threshold=params["score_threshold"], nodata=NODATA)
    stream = _DocumentStream(detections, params["polygons"], model_ref)
    documents = {row.tile_id: partial(stream.next_document, TileGrid.from_index_row(row), keys[row.tile_id])
                 for row in todo}
    return documents, sorted(row.tile_id for row in rows)


class _DocumentStream:
    """Hands out tile documents one by one as ``PartitionedDataset`` saves them (sorted by tile id).

    The model still runs batched; each JSON is written as soon as its tile is done, so a run killed during
    inference keeps the finished tiles and a re-run predicts only the others.
    """

    def __init__(self, detections, polygon_params: dict[str, Any], model_ref: dict[str, Any]) -> None:
        self._detections, self._params, self._model_ref = iter(detections), polygon_params, model_ref

    def next_document(self, grid: TileGrid, key: str) -> dict[str, Any]:
        tile_id, instances = next(self._detections)
        if tile_id != grid.tile_id:
            raise RuntimeError(f"predictions out of order: got {tile_id}, saving {grid.tile_id}")
        return {**tile_prediction(grid, instances, self._params, self._model_ref), "reuse_key": key}


def reuse_key(fingerprint: str, params: dict[str, Any], row: Any) -> str:
    """What a tile's prediction depends on: the weights, the settings that change the output, the source
    raster content and the tile's grid. Batch size, device and the choice of tiles do not count."""
    settings = {k: params[k] for k in ("polygons", "score_threshold", "detections_per_tile")}
    inputs = [fingerprint, settings, row.image_sha256, row.transform, row.crs, int(row.height), int(row.width)]
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _already_predicted(load: Callable[[], dict] | None, key: str) -> bool:
    return load is not None and load().get("reuse_key") == key


def merge_tile_predictions(tile_predictions: dict[str, Callable[[], dict[str, Any]]], predicted_tiles: list[str],
                           raw_images: dict[str, Callable[[], RasterSource]], mlflow_run: dict[str, Any],
                           params: dict[str, Any]) -> tuple[dict, dict, dict, gpd.GeoDataFrame]:
    """Merge each image's tile detections into buildings; return the GeoPackage, GeoJSON (WGS84) and CSV
    partitions per image and one predictions table for all images (tile ids and MLflow run id on each row).

    Only this run's chosen tiles count: the folder may hold documents of other tiles from earlier runs.
    """
    gpkg, geojson, csv, table = {}, {}, {}, []
    for image_id, (buildings, n_detections) in merge_images(tile_predictions, predicted_tiles,
                                                             params["merge"]).items():
        log.info("%s: %d tile detections merged into %d buildings", image_id, n_detections, len(buildings))
        gpkg[image_id] = buildings
        geojson[image_id] = buildings.to_crs(WGS84)
        csv[image_id] = challenge_table(buildings, raw_images[image_id]().profile["transform"])
        table.append(buildings.to_crs(WGS84).assign(image_id=image_id, run_id=mlflow_run["run_id"]))
    predictions = pd.concat(table, ignore_index=True) if table else gpd.GeoDataFrame(geometry=[], crs=WGS84)
    return gpkg, geojson, csv, gpd.GeoDataFrame(predictions, geometry="geometry", crs=WGS84)

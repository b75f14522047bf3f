"""Nodes of the inference and predict pipelines: thin wrappers around ``footprints.model`` and
``footprints.postprocess``.

The inference pipeline predicts the tiles a training run held out (``select_tiles``); the predict pipeline
predicts every tile of new imagery. Both then run the same two nodes, ``predict_tiles`` and
``merge_tile_predictions``. torch is imported only when tiles are predicted (``footprints.tile_documents``),
so runs of the other pipelines never load it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import geopandas as gpd
import pandas as pd

from footprints.datasets.raster import Raster, RasterSource
from footprints.geo import WGS84
from footprints.model.weights import ModelWeights
from footprints.postprocess.buildings import building_schema, polygon_parts_count
from footprints.postprocess.challenge import challenge_table
from footprints.postprocess.merge_images import merge_images
from footprints.tile_data import check_model_bands, image_shapes
from footprints.tile_documents import TilePredictor, tile_documents

log = logging.getLogger(__name__)

PREDICTED_SPLITS = {"holdout": {"val", "unlabelled"}, "all": {"train", "val", "buffer", "unlabelled"}}


def select_tiles(tile_index: gpd.GeoDataFrame, tile_split: pd.DataFrame, params: dict[str, Any]
                 ) -> gpd.GeoDataFrame:
    """The tiles the inference pipeline predicts: ``params.tiles`` is ``holdout`` (default: validation tiles
    and images without labels, never seen in training) or ``all``."""
    chosen = tile_split.tile_id[tile_split.split.isin(PREDICTED_SPLITS[params["tiles"]])]
    return tile_index[tile_index.tile_id.isin(set(chosen))].reset_index(drop=True)


def predict_tiles(tiles: dict[str, Callable[[], Raster]], tile_index: gpd.GeoDataFrame,
                  model_weights: ModelWeights, existing_tile_predictions: dict[str, Callable[[], dict]],
                  mlflow_run: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Run the model over every tile of ``tile_index``; one JSON-ready document per tile.

    A tile whose document on disk has the same reuse key (same weights, same inference settings, same source
    raster and tile grid: e.g. from an interrupted run) is not predicted again. The others are predicted in
    this process, or per shard on the run's Dask cluster with ``shards.enabled`` (``footprints.tile_documents``).

    Returns:
        Lazy new documents (computed while they are saved), and the ids of all given tiles (new and reused).
    """
    config = model_weights.config
    fingerprint = model_weights.fingerprint
    keys = {row.tile_id: reuse_key(fingerprint, params, row) for row in tile_index.itertuples()}
    done = {tile_id for tile_id, key in keys.items()
            if _already_predicted(existing_tile_predictions.get(tile_id), key)}
    todo = tile_index[~tile_index.tile_id.isin(done)].sort_values("tile_id")  # PartitionedDataset's save order
    check_model_bands(image_shapes(tiles, todo), config["bands"])
    origin = (config.get("training") or {}).get("weights_origin", "an unrecorded start")
    log.info("%d tiles chosen, %d already predicted with these weights and settings (%s, trained from %s)",
             len(keys), len(done), model_weights.source, origin)
    tile_size = int(tile_index.width.iloc[0]) if len(tile_index) else config["tile_size"]  # see predict_settings
    model_ref = {"source": model_weights.source, "fingerprint": fingerprint, **mlflow_run}
    predictor = TilePredictor(model_weights, fingerprint, tile_size, params, model_ref)
    stream = tile_documents(predictor, tiles, todo, keys)
    documents = {tile_id: partial(_next_document, stream, tile_id) for tile_id in todo.tile_id}
    return documents, sorted(keys)


def _next_document(stream: Iterator[tuple[str, dict[str, Any]]], tile_id: str) -> dict[str, Any]:
    """The next document of ``stream``, which must be ``tile_id``'s: ``PartitionedDataset`` saves the lazy
    partitions one by one in tile order, each written as soon as its tile is done, so a run killed during
    inference keeps the finished tiles and a re-run predicts only the others."""
    got, document = next(stream)
    if got != tile_id:
        raise RuntimeError(f"predictions out of order: got {got}, saving {tile_id}")
    return document


def reuse_key(fingerprint: str, params: dict[str, Any], row: Any) -> str:
    """What a tile's prediction depends on: the weights, the settings that change the output, the source
    raster content and the tile's grid. Batch size, device and the choice of tiles do not count."""
    settings = {k: params[k] for k in ("polygons", "score_threshold", "detections_per_tile")}
    inputs = [fingerprint, settings, row.image_sha256, row.transform, row.crs, row.metric_crs, int(row.height),
              int(row.width)]
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _already_predicted(load: Callable[[], dict] | None, key: str) -> bool:
    return load is not None and load().get("reuse_key") == key


def merge_tile_predictions(tile_predictions: dict[str, Callable[[], dict[str, Any]]], predicted_tiles: list[str],
                           raw_images: dict[str, Callable[[], RasterSource]], mlflow_run: dict[str, Any],
                           params: dict[str, Any]) -> tuple[dict, dict, dict, gpd.GeoDataFrame]:
    """Merge each image's tile detections into buildings; return the GeoPackage (image CRS), GeoJSON (WGS84)
    and CSV partitions per image and one predictions table for all images (WGS84, tile ids and MLflow run
    id on each row).

    Only this run's tiles count (the folder may hold documents of other tiles from earlier runs). Each image is
    one task (on the run's Dask cluster when there is one) that reads only its own documents.
    """
    gpkg, geojson, csv, table = {}, {}, {}, []
    for image_id, (buildings, n_detections) in merge_images(tile_predictions, predicted_tiles,
                                                             params["merge"]).items():
        log.info("%s: %d tile detections merged into %d buildings (%d in several parts: the CSV keeps the "
                 "largest)", image_id, n_detections, len(buildings), polygon_parts_count(buildings))
        gpkg[image_id], geojson[image_id] = buildings, buildings.to_crs(WGS84)
        csv[image_id] = challenge_table(buildings, raw_images[image_id]().profile["transform"])
        table.append(geojson[image_id].assign(image_id=image_id, run_id=mlflow_run["run_id"]))
    predictions = pd.concat(table, ignore_index=True) if table else \
        building_schema(None, WGS84).assign(image_id=pd.Series(dtype="str"), run_id=pd.Series(dtype="str"))
    return gpkg, geojson, csv, gpd.GeoDataFrame(predictions, geometry="geometry", crs=WGS84)

"""Per-tile prediction documents from model weights and tiles: streamed in this process, or per shard on Dask.

In this process (the default) tiles are read two batches ahead of the model and the model runs a batch ahead
of polygonising, each in its own thread (``footprints.prefetch``), so the device never waits on either.

With ``inference.shards.enabled`` the tiles are cut into shards of ``shards.tiles`` consecutive tiles, each
one task on the run's Dask cluster (``footprints.distributed``): the weights are sent to every worker once,
a worker builds the model once per process and keeps it for its next shards, reads its tiles, runs the model
and polygonises, and only the documents travel back. ``shards.resources`` (e.g. ``{GPU: 1}``) sends shards
only to workers started with that resource: one worker per GPU. The documents come back in tile order, so
the caller saves them as they arrive whichever way they were made.

torch is imported inside the functions that run the model (see ``footprints.model``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import geopandas as gpd

from footprints.datasets.raster import Raster
from footprints.distributed import imap_tasks
from footprints.geo import WGS84, TileGrid, reproject
from footprints.model.weights import ModelWeights
from footprints.postprocess.tile_polygons import tile_prediction
from footprints.prefetch import prefetch
from footprints.tile_data import NODATA, tile_pixels

TileLoaders = dict[str, Callable[[], Raster]]
Documents = Iterator[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class TilePredictor:
    """Everything that turns tiles into documents; sent once to each Dask worker."""

    weights: ModelWeights
    fingerprint: str  # of the weights (hashing them is not free: computed once by the caller)
    tile_size: int
    params: dict[str, Any]  # the inference parameters
    model_ref: dict[str, Any]  # written into each document: weights source, fingerprint, MLflow run


def tile_documents(predictor: TilePredictor, tiles: TileLoaders, rows: gpd.GeoDataFrame,
                   keys: dict[str, str]) -> Documents:
    """``(tile_id, document)`` for every row of ``rows`` (a tile index), in the order of ``rows``.

    ``keys`` gives each tile's reuse key, written into its document.
    """
    if rows.empty:  # everything reused: no model to build, no torch to import
        return iter(())
    shards = predictor.params["shards"]
    if not shards["enabled"]:
        return _stream(predictor, _build_model(predictor), tiles, rows, keys, progress=True)
    size = shards["tiles"]
    parts = [rows.iloc[start:start + size] for start in range(0, len(rows), size)]
    jobs = [(part, {t: tiles[t] for t in part.tile_id}, {t: keys[t] for t in part.tile_id}) for part in parts]
    results = imap_tasks(_shard_documents, jobs, shared=predictor, resources=shards["resources"],
                         desc=f"predicting {len(rows)} tiles in {len(jobs)} shards")
    return chain.from_iterable(results)


def _stream(predictor: TilePredictor, model: Any, tiles: TileLoaders, rows: gpd.GeoDataFrame,
            keys: dict[str, str], progress: bool) -> Documents:
    """Read, predict and polygonise ``rows`` with the three steps overlapped in threads."""
    from footprints.model import predict_tiles, resolve_device

    params, config = predictor.params, predictor.weights.config
    batch = params["batch_size"]
    images = prefetch(((row.tile_id, tile_pixels(tiles[row.tile_id])) for row in rows.itertuples()),
                      depth=2 * batch)
    detections = predict_tiles(model, images, config["bands"], config["mean"], config["std"],
                               resolve_device(params["device"]), batch_size=batch,
                               score_threshold=params["score_threshold"], nodata=NODATA, progress=progress)
    for row, (tile_id, instances) in zip(rows.itertuples(), prefetch(detections, depth=batch), strict=True):
        grid = TileGrid.from_index_row(row)
        area = reproject([row.geometry], WGS84, grid.crs)[0]  # the in-image part
        document = tile_prediction(grid, instances, params["polygons"], predictor.model_ref, area)
        yield tile_id, {**document, "reuse_key": keys[tile_id]}


def _build_model(predictor: TilePredictor) -> Any:
    from footprints.model import build_model

    config = predictor.weights.config
    model = build_model(arch=config["arch"], tile_size=predictor.tile_size, pretrained="none",
                        in_channels=len(config["bands"]), input_scale=config.get("input_scale", 1.0),
                        state_dict=predictor.weights.state_dict,
                        weights_name=predictor.weights.source)
    model.roi_heads.detections_per_img = predictor.params["detections_per_tile"]
    return model


_worker_models: dict[tuple[str, int, int], Any] = {}
_worker_lock = threading.Lock()


def _worker_model(predictor: TilePredictor) -> Any:
    """The model of ``predictor`` in this worker process, built on its first shard and kept for the next
    (only the latest weights are kept: a long-lived worker serving several runs holds one model)."""
    key = (predictor.fingerprint, predictor.tile_size, predictor.params["detections_per_tile"])
    with _worker_lock:
        if key not in _worker_models:
            _worker_models.clear()
            _worker_models[key] = _build_model(predictor)
        return _worker_models[key]


def _shard_documents(job: tuple[gpd.GeoDataFrame, TileLoaders, dict[str, str]],
                     predictor: TilePredictor) -> list[tuple[str, dict[str, Any]]]:
    """One Dask task: the documents of one shard of tiles."""
    rows, tiles, keys = job
    return list(_stream(predictor, _worker_model(predictor), tiles, rows, keys, progress=False))


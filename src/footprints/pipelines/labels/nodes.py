"""Nodes of the labels pipeline: wiring around :mod:`footprints.labels.cleaning`, the per-tile query."""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from footprints.datasets.partitions import Keyed
from footprints.datasets.spatial_table import SpatialTable
from footprints.errors import InputError
from footprints.geo import WGS84, TileGrid
from footprints.labels import cleaning
from footprints.model.split import split_train_val
from footprints.rasterise import MASKS_VERSION, rasterise_tile

log = logging.getLogger(__name__)


def clean_labels(raw_labels: gpd.GeoDataFrame, tile_index: gpd.GeoDataFrame, params: dict[str, Any]
                 ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Repair, validate and classify the label features, kept in the label file's CRS (see
    :func:`footprints.labels.cleaning.clean_labels`); stops before the label database is written when the
    labelled tiles cannot be split into training and validation."""
    labels, report = cleaning.clean_labels(raw_labels, tile_index, params)
    touching = gpd.sjoin(tile_index, labels[["geometry"]].to_crs(tile_index.crs), predicate="intersects")
    labelled = touching.image_id.unique()
    split_tiles(tile_index.assign(has_labels=tile_index.image_id.isin(labelled), n_instances=0), params["split"],
                quiet=True)
    return labels, report


def query_tile_labels(label_database: SpatialTable, tile_index: gpd.GeoDataFrame
                      ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Clip the labels to every tile, one spatial join per image in that image's CRS, run where the label
    database lives (the tiles' exact pixel-grid footprints, not their WGS84 outline, cut the labels).

    Returns the clipped instances (``tile_id``, label attributes, geometry in WGS84 so that images of every
    CRS share one layer; holes kept) and the tile index with ``n_instances`` and ``has_labels``: tiles
    without labels stay, flagged, for negatives and inference.
    """
    parts = [label_database.clip_to(_grid_footprints(tiles)).to_crs(WGS84)
             for _, tiles in tile_index.groupby("image_id", sort=True)]
    instances = pd.concat(parts, ignore_index=True) if parts else label_database.read().iloc[:0].to_crs(WGS84)
    instances = gpd.GeoDataFrame(instances, geometry="geometry", crs=WGS84)
    counts = instances.groupby("tile_id").size()
    labelled = tile_index.assign(n_instances=tile_index.tile_id.map(counts).fillna(0).astype(int))
    labelled = labelled.assign(has_labels=labelled.n_instances > 0)
    log.info("%d label instances on %d of %d tiles", len(instances), int(labelled.has_labels.sum()),
             len(labelled))
    return instances, labelled


def _grid_footprints(tiles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One image's tiles in the image CRS: the in-image part of each tile's pixel grid (padding holds no label).

    The index keeps only the corners in WGS84 and reprojection moves vertices, so this gives back the
    straight-edged footprint computed in the image CRS.
    """
    return tiles[["tile_id", "geometry"]].to_crs(tiles["crs"].iloc[0])


def build_instance_masks(tile_instances: gpd.GeoDataFrame, labelled_tile_index: gpd.GeoDataFrame
                         ) -> dict[str, Keyed]:
    """One lazy, picklable mask builder per tile; ``instance_masks`` runs them in batches on the run's Dask
    workers (or in this process), shipping each tile's few polygons, not pixels.

    Each builder carries the key of its inputs (:func:`_mask_key`): a re-run keeps the masks whose tile and
    instances did not change instead of rasterising and writing them again."""
    positions = tile_instances.groupby("tile_id").indices
    empty = np.zeros(0, dtype=int)
    wkb = shapely.to_wkb(tile_instances.geometry.values)
    ids = tile_instances[["label_id", "class_id"]].to_numpy(dtype=np.int64)
    crs = tile_instances.crs.to_string() if tile_instances.crs else ""
    masks = {}
    for row in labelled_tile_index.itertuples():
        rows = positions.get(row.tile_id, empty)
        masks[row.tile_id] = Keyed(_mask_key(row, crs, wkb[rows], ids[rows]),
                                   partial(rasterise_tile, tile_instances.iloc[rows], TileGrid.from_index_row(row)))
    return masks


def _mask_key(row: Any, crs: str, wkb: np.ndarray, ids: np.ndarray) -> str:
    """Hash of what a tile's masks are made from: its pixel grid and its instances (ids, class, outline in
    ``crs``), and the version of the rasterising (``footprints.rasterise.MASKS_VERSION``)."""
    digest = hashlib.sha256(f"{MASKS_VERSION}|{row.crs}|{row.transform}|{row.height}|{row.width}|{crs}|"
                            f"{len(ids)}".encode())
    digest.update(ids.tobytes())
    for geometry in wkb:
        digest.update(geometry)
    return digest.hexdigest()


def split_tiles(labelled_tile_index: gpd.GeoDataFrame, params: dict[str, Any], quiet: bool = False
                ) -> pd.DataFrame:
    """Give every tile a role: ``train``, ``val``, ``buffer`` (shares pixels with val tiles) or ``unlabelled``.

    Only images with labels take part; their unlabelled tiles are negatives. Images with no label at all are
    new imagery, left for inference. Inference predicts the ``val`` and ``unlabelled`` tiles by default.
    """
    index = pd.DataFrame(labelled_tile_index.drop(columns="geometry"))
    labelled_images = set(index.image_id[index.has_labels])
    train, val = [], []
    if labelled_images:
        pool = index[index.image_id.isin(labelled_images)].rename(columns={"width": "tile_size"})
        train, val = _split(pool, params)
    role = index.tile_id.map({**{t: "train" for t in train}, **{t: "val" for t in val}})
    role = role.fillna(index.image_id.map(lambda i: "buffer" if i in labelled_images else "unlabelled"))
    if not quiet:
        log.info("tiles: %s", role.value_counts().to_dict())
    # n_instances and image_sha256 let training say what it learnt from and fingerprint that data
    return index[["tile_id", "image_id", "row_off", "col_off", "n_instances", "image_sha256"]].assign(split=role)


def _split(pool: pd.DataFrame, params: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``split_train_val``, with the settings to change named when the labelled tiles are too few."""
    try:
        return split_train_val(pool.to_dict("records"), params["val_fraction"], params["seed"],
                               params.get("val_images"))
    except ValueError as err:
        size = int(pool.tile_size.iloc[0])
        raise InputError(
            f"labelled image {pool.image_id.iloc[0]}: {len(pool)} tile(s) of {size} px cannot be split into "
            f"training and validation tiles that share no pixel (labels.split.val_fraction "
            f"{params['val_fraction']}; {err}); add a labelled image, or set a smaller "
            f"preprocessing.tile_size (e.g. {max(64, size // 4)}) so the image gives more tiles") from None

"""Nodes of the labels pipeline.

Every feature that is not used as given (null, empty or invalid geometry, not a polygon, unknown class,
outside every raster) gets a row in the label report: nothing is dropped or changed silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from footprints.classes import CLASS_NAMES
from footprints.datasets.masks import InstanceMasks
from footprints.datasets.spatial_table import SpatialTable
from footprints.errors import InputError
from footprints.geo import TileGrid, reproject
from footprints.model.data import split_train_val
from footprints.rasterise import rasterise_tile

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["source_fid", "problem", "action"]
LABEL_COLUMNS = ["label_id", "source_fid", "class_id", "class_name", "geometry"]


def clean_labels(raw_labels: gpd.GeoDataFrame, tile_index: gpd.GeoDataFrame, params: dict[str, Any]
                 ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Repair, validate and classify the label features, in the CRS of the tile index.

    Args:
        raw_labels: features as read from the label file.
        tile_index: the tiles; its CRS is the working CRS the labels are reprojected to.
        params: ``class_attribute``, ``classes`` (attribute value -> class name), ``unknown_class``
            (``drop`` or a class name for features with a missing or unknown class), ``assume_crs``.

    Returns:
        One polygon per row (``label_id``, ``source_fid``, ``class_id``, ``class_name``) and the report.
    """
    report: list[dict[str, Any]] = []
    labels = raw_labels.reset_index(drop=True)
    labels = labels.assign(source_fid=labels.index)
    labels = _with_crs(labels, params).to_crs(tile_index.crs)
    labels = _drop_missing(labels, report)
    labels = _repair(labels, report)
    labels = _explode_polygons(labels, report)
    labels = _classify(labels, params, report)
    _report_outside(labels, tile_index, report)
    labels = labels.reset_index(drop=True).assign(label_id=lambda f: np.arange(1, len(f) + 1))
    report_frame = pd.DataFrame(report, columns=REPORT_COLUMNS)
    _log_summary(raw_labels, labels, report_frame)
    return labels[LABEL_COLUMNS], report_frame


def _with_crs(labels: gpd.GeoDataFrame, params: dict[str, Any]) -> gpd.GeoDataFrame:
    if labels.crs is not None:
        return labels
    if not params.get("assume_crs"):
        source = labels.attrs.get("source", "label file")
        raise InputError(f"{source}: labels have no CRS; add one to the file or set labels.assume_crs "
                         "(e.g. EPSG:4326) in conf/base/parameters_labels.yml")
    return labels.set_crs(params["assume_crs"])


def _drop_missing(labels: gpd.GeoDataFrame, report: list) -> gpd.GeoDataFrame:
    missing = labels.geometry.isna() | labels.geometry.is_empty
    for fid, null in zip(labels.source_fid[missing], labels.geometry.isna()[missing]):
        report.append({"source_fid": fid, "problem": "null geometry" if null else "empty geometry",
                       "action": "dropped"})
    return labels[~missing]


def _repair(labels: gpd.GeoDataFrame, report: list) -> gpd.GeoDataFrame:
    """``make_valid`` on invalid geometries (self-intersections, bow ties...), keeping every piece."""
    invalid = ~labels.geometry.is_valid
    reasons = shapely.is_valid_reason(labels.geometry[invalid].values)
    for fid, reason in zip(labels.source_fid[invalid], reasons):
        report.append({"source_fid": fid, "problem": f"invalid geometry: {reason}",
                       "action": "repaired with make_valid"})
    repaired = labels.geometry.copy()
    repaired[invalid] = shapely.make_valid(labels.geometry[invalid].values)
    return labels.set_geometry(repaired)


def _explode_polygons(labels: gpd.GeoDataFrame, report: list) -> gpd.GeoDataFrame:
    """One polygon per row: multipolygons split into buildings, lines and points dropped."""
    # twice: make_valid can nest a MultiPolygon inside a GeometryCollection
    parts = labels.explode(index_parts=False).explode(index_parts=False)
    polygonal = parts.geom_type == "Polygon"
    dropped = parts[~polygonal].groupby("source_fid").geometry.agg(lambda g: sorted(set(g.geom_type)))
    with_polygon = set(parts.source_fid[polygonal])  # features that keep a polygon lose only slivers
    for fid, kinds in dropped.items():
        if fid not in with_polygon:
            report.append({"source_fid": fid, "problem": f"not a polygon ({', '.join(kinds)})",
                           "action": "dropped"})
    kept = parts[polygonal & (parts.geometry.area > 0)]
    split = kept.source_fid.value_counts()
    split = split[split > 1]
    if len(split):
        log.info("labels: %d multi-part features split into %d buildings, one row each (source_fid kept)",
                 len(split), int(split.sum()))
    return kept


def _classify(labels: gpd.GeoDataFrame, params: dict[str, Any], report: list) -> gpd.GeoDataFrame:
    """Map the class attribute to class names; unknown or missing ones are dropped or defaulted."""
    mapping = {str(k): v for k, v in params["classes"].items()}
    _check_class_names(set(mapping.values()) | {params["unknown_class"]} - {"drop"})
    attribute = params["class_attribute"]
    if attribute not in labels.columns and len(labels):
        others = [c for c in labels.columns if c not in {"geometry", "source_fid"}]
        log.warning("%s: no feature has a %r property (they have %s): every feature counts as missing its "
                    "class; set labels.class_attribute in conf/base/parameters_labels.yml",
                    labels.attrs.get("source", "labels"), attribute, others or "none")
    raw = labels[attribute] if attribute in labels.columns else pd.Series(None, index=labels.index)
    names = raw.map(lambda v: mapping.get(str(v)) if pd.notna(v) else None)
    policy = params["unknown_class"]
    for fid, value in zip(labels.source_fid[names.isna()], raw[names.isna()]):
        problem = f"missing {attribute}" if pd.isna(value) else f"unknown {attribute} {value!r}"
        report.append({"source_fid": fid, "problem": problem,
                       "action": "dropped" if policy == "drop" else f"mapped to {policy}"})
    names = names.fillna(policy)
    labels = labels[names != "drop"].assign(class_name=names[names != "drop"])
    return labels.assign(class_id=labels.class_name.map(lambda n: CLASS_NAMES.index(n) + 1).astype(int))


def _check_class_names(names: set[str]) -> None:
    unknown = names - set(CLASS_NAMES)
    if unknown:
        raise InputError(f"labels.classes / labels.unknown_class name {sorted(unknown)}: use one of "
                         f"{list(CLASS_NAMES)} or 'drop'")


def _report_outside(labels: gpd.GeoDataFrame, tile_index: gpd.GeoDataFrame, report: list) -> None:
    """Labels that touch no tile stay in the database but cannot train anything: say so."""
    tree = shapely.STRtree(tile_index.geometry.values)
    touching = np.unique(tree.query(labels.geometry.values, predicate="intersects")[0])
    outside = np.setdiff1d(np.arange(len(labels)), touching)
    for fid in labels.source_fid.values[outside]:
        report.append({"source_fid": fid, "problem": "outside every raster", "action": "stored, unused"})
    if len(labels) and not len(touching):
        log.warning("no label touches any raster: check that labels and images cover the same area and "
                    "that the label CRS is right")


def _log_summary(raw: gpd.GeoDataFrame, labels: gpd.GeoDataFrame, report: pd.DataFrame) -> None:
    if raw.empty:
        log.warning("the label file holds no features: every tile is unlabelled")
    counts = report.groupby(["problem", "action"]).size() if len(report) else pd.Series(dtype=int)
    log.info("labels: %d features in, %d polygons kept; %s", len(raw), len(labels),
             "; ".join(f"{n} x {p} -> {a}" for (p, a), n in counts.items()) or "no problems")


def query_tile_labels(label_database: SpatialTable, tile_index: gpd.GeoDataFrame
                      ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Clip the labels to every tile in one spatial join, run where the label database lives.

    Returns the clipped instances (``tile_id``, label attributes, geometry; holes kept) and the tile index
    with ``n_instances`` and ``has_labels``: tiles without labels stay, flagged, for negatives and inference.
    """
    instances = label_database.clip_to(tile_index[["tile_id", "geometry"]])
    counts = instances.groupby("tile_id").size()
    labelled = tile_index.assign(n_instances=tile_index.tile_id.map(counts).fillna(0).astype(int))
    labelled = labelled.assign(has_labels=labelled.n_instances > 0)
    log.info("%d label instances on %d of %d tiles", len(instances), int(labelled.has_labels.sum()),
             len(labelled))
    return instances, labelled


def build_instance_masks(tile_instances: gpd.GeoDataFrame, labelled_tile_index: gpd.GeoDataFrame
                         ) -> dict[str, Callable[[], InstanceMasks]]:
    """One lazy, picklable mask builder per tile; ``instance_masks`` (``ParallelPartitionedDataset``) runs them
    in batches on the run's Dask workers, shipping each tile's few polygons, not pixels."""
    groups = dict(list(tile_instances.groupby("tile_id")))
    empty = tile_instances.iloc[:0]
    return {row.tile_id: partial(rasterise_tile, groups.get(row.tile_id, empty), TileGrid.from_index_row(row))
            for row in labelled_tile_index.itertuples()}


def split_tiles(labelled_tile_index: gpd.GeoDataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """Give every tile a role: ``train``, ``val``, ``buffer`` (shares pixels with val tiles) or ``unlabelled``.

    Only images with labels take part; their unlabelled tiles are negatives. Images with no label at all are
    new imagery, left for inference. Inference predicts the ``val`` and ``unlabelled`` tiles by default.
    """
    index = pd.DataFrame(labelled_tile_index.drop(columns="geometry"))
    labelled_images = set(index.image_id[index.has_labels])
    train, val = [], []
    if labelled_images:
        pool = index[index.image_id.isin(labelled_images)].rename(columns={"width": "tile_size"})
        train, val = split_train_val(pool.to_dict("records"), params["val_fraction"], params["seed"])
    role = index.tile_id.map({**{t: "train" for t in train}, **{t: "val" for t in val}})
    role = role.fillna(index.image_id.map(lambda i: "buffer" if i in labelled_images else "unlabelled"))
    log.info("tiles: %s", role.value_counts().to_dict())
    return index[["tile_id", "image_id", "row_off", "col_off"]].assign(split=role)

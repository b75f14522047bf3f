"""Cross-tile merge: one polygon per building of a raw image, from the detections of overlapping tiles.

Two detections from different tiles are the same building when
- their polygons overlap with IoU >= ``iou_threshold`` (a duplicate seen whole by both tiles), or
- they agree inside the region both tiles saw: the IoU of the two polygons restricted to the tiles'
  shared region (their overlap strip, or the common edge widened by ``edge_tolerance_px`` when the
  overlap is 0) is >= ``shared_iou_threshold``. This catches the fragments of a building cut by a tile
  border, with or without overlap, which a plain intersection-over-smaller-area test misses when a long
  building is cut in both tiles (neither fragment contains the other); docs/decisions.md has the case.
Connected groups are unioned; class scores are averaged weighted by fragment area.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import shape

from footprints.classes import CLASS_NAMES
from footprints.geo import footprint, pixel_size

SCORE_COLUMNS = [f"conf_{name}" for name in CLASS_NAMES]


def detections_frame(tile_documents: Iterable[dict[str, Any]]) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """All instances of an image's tile JSON documents as one frame (map CRS), and the tile footprints."""
    rows, footprints, crs, transform = [], {}, None, None
    for doc in tile_documents:
        transform = Affine(*doc["transform"])
        crs = CRS.from_user_input(doc["crs"])
        footprints[doc["tile_id"]] = footprint(transform, doc["width"], doc["height"])
        rows.extend({"tile_id": doc["tile_id"], "class_name": inst["class"], "score": inst["score"],
                     **{f"conf_{k}": v for k, v in inst["scores"].items()},
                     "geometry": shape(inst["geometry"])} for inst in doc["instances"])
    columns = ["tile_id", "class_name", "score", *SCORE_COLUMNS, "geometry"]
    frame = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=crs)
    return frame, {"footprints": footprints, "pixel_size": pixel_size(transform) if transform else 1.0}


def merge_detections(detections: gpd.GeoDataFrame, tiles: dict[str, Any], params: dict[str, Any]
                     ) -> gpd.GeoDataFrame:
    """Merge duplicates and fragments across tile borders into one row per building."""
    geoms = detections.geometry.values
    tol = params["edge_tolerance_px"] * tiles["pixel_size"]
    i, j = _same_building_pairs(detections, tiles["footprints"], tol, params)
    n = len(detections)
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, group = connected_components(graph, directed=False) if n else (0, np.zeros(0, dtype=int))
    grid = tiles["pixel_size"] * 1e-3  # snaps float noise between adjacent tiles' transforms
    rows = [_merged_row(detections.iloc[members], geoms[members], grid)
            for members in _groups(group)]
    frame = gpd.GeoDataFrame(rows, columns=["building_id", "class_name", "score", *SCORE_COLUMNS,
                                            "tile_ids", "n_merged", "geometry"],
                             geometry="geometry", crs=detections.crs)
    return frame.assign(building_id=np.arange(1, len(frame) + 1))


def _same_building_pairs(detections: gpd.GeoDataFrame, footprints: dict[str, Any], tol: float,
                         params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    geoms = detections.geometry.values
    grown = shapely.buffer(geoms, tol, join_style="mitre")
    i, j = shapely.STRtree(grown).query(grown, predicate="intersects")
    tile = detections.tile_id.to_numpy()
    keep = (i < j) & (tile[i] != tile[j])
    i, j = i[keep], j[keep]
    if not len(i):
        return i, j
    shared = shapely.buffer(shapely.intersection(_footprints(footprints, tile[i]),
                                                 _footprints(footprints, tile[j])), tol, join_style="mitre")
    same = (_iou(geoms[i], geoms[j]) >= params["iou_threshold"]) | (
        _iou(shapely.intersection(grown[i], shared), shapely.intersection(grown[j], shared))
        >= params["shared_iou_threshold"])
    return i[same], j[same]


def _footprints(footprints: dict[str, Any], tile_ids: np.ndarray) -> np.ndarray:
    return np.array([footprints[t] for t in tile_ids], dtype=object)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = shapely.area(shapely.intersection(a, b))
    union = shapely.area(a) + shapely.area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _groups(group: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(group, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(group[order])) + 1) if len(group) else []


def _merged_row(members: gpd.GeoDataFrame, geoms: np.ndarray, grid: float) -> dict[str, Any]:
    """Union of a group's polygons; class scores averaged with the fragments' areas as weights."""
    weights = shapely.area(geoms)
    scores = np.average(members[SCORE_COLUMNS].to_numpy(float), axis=0, weights=weights)
    best = int(np.argmax(scores))
    return {"building_id": 0, "class_name": CLASS_NAMES[best], "score": float(scores[best]),
            **dict(zip(SCORE_COLUMNS, scores.tolist())),
            "tile_ids": sorted(set(members.tile_id)), "n_merged": len(members),
            "geometry": shapely.union_all(shapely.set_precision(geoms, grid))}

"""Cross-tile merge: one polygon per building of a raw image, from the detections of overlapping tiles.

Two detections from different tiles are the same building when
- their polygons overlap with IoU >= ``iou_threshold`` (a duplicate seen whole by both tiles), or
- they agree inside the region both tiles saw: the IoU of the two polygons restricted to the tiles'
  shared region (their overlap strip, or the common edge widened by ``edge_tolerance_px`` when the
  overlap is 0) is >= ``shared_iou_threshold``. This catches the fragments of a building cut by a tile
  border, with or without overlap, which a plain intersection-over-smaller-area test misses when a long
  building is cut in both tiles (neither fragment contains the other); docs/decisions.md has the case.
Connected groups are unioned; class scores are averaged weighted by fragment area.

Everything is array-wise (linear in the detections): pairs from one STRtree query, each pair test one
vectorised shapely call over all pairs, group sums with ``np.add.reduceat`` over detections sorted by group,
and unions one ``shapely.union_all`` call per group size (groups padded into a 2-D array), so no Python
or pandas work runs per building. Buildings come out ordered by their first detection, which is what
lets ``merge_blocks`` reproduce this result block by block.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from footprints.classes import CLASS_NAMES
from footprints.geo import footprint, pixel_size
from footprints.postprocess.geojson import geometries_from_geojson
from footprints.postprocess.robust import iou, overlay, union_rows, valid_polygons, warn_failures

SCORE_COLUMNS = [f"conf_{name}" for name in CLASS_NAMES]
COLUMNS = ["building_id", "class_name", "score", *SCORE_COLUMNS, "tile_ids", "n_merged", "geometry"]
MITRE_LIMIT = 5.0  # shapely's default: a mitre-grown polygon stays within MITRE_LIMIT * distance of the input


def detections_frame(tile_documents: Iterable[dict[str, Any]]) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """All instances of an image's tile JSON documents as one frame (map CRS), and the tile footprints."""
    docs = list(tile_documents)
    instances = [inst for doc in docs for inst in doc["instances"]]
    tile_ids = np.repeat(np.array([doc["tile_id"] for doc in docs], dtype=object),
                         [len(doc["instances"]) for doc in docs])
    scores = np.array([[inst["scores"][name] for name in CLASS_NAMES] for inst in instances],
                      dtype=float).reshape(-1, len(CLASS_NAMES))
    frame = gpd.GeoDataFrame(
        {"tile_id": tile_ids, "class_name": np.array([inst["class"] for inst in instances], dtype=object),
         "score": np.array([inst["score"] for inst in instances], dtype=float),
         **dict(zip(SCORE_COLUMNS, scores.T)),
         "geometry": geometries_from_geojson([inst["geometry"] for inst in instances])},
        geometry="geometry", crs=CRS.from_user_input(docs[-1]["crs"]) if docs else None)
    footprints = {doc["tile_id"]: footprint(Affine(*doc["transform"]), doc["width"], doc["height"])
                  for doc in docs}
    return frame, {"footprints": footprints,
                   "pixel_size": pixel_size(Affine(*docs[-1]["transform"])) if docs else 1.0}


def merge_detections(detections: gpd.GeoDataFrame, tiles: dict[str, Any], params: dict[str, Any]
                     ) -> gpd.GeoDataFrame:
    """Merge duplicates and fragments across tile borders into one row per building."""
    groups = building_groups(detections, tiles, params)
    frame = merged_buildings(detections, groups, tiles["pixel_size"])
    return frame.assign(building_id=np.arange(1, len(frame) + 1))


def building_groups(detections: gpd.GeoDataFrame, tiles: dict[str, Any], params: dict[str, Any]
                    ) -> np.ndarray:
    """Building label of each detection: 0, 1, ... in the order of each building's first detection."""
    n = len(detections)
    if not n:
        return np.zeros(0, dtype=np.int64)
    i, j = same_building_pairs(detections, tiles, params)
    _, labels = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)), directed=False)
    first = np.full(labels.max() + 1, n)
    np.minimum.at(first, labels, np.arange(n))
    return np.argsort(np.argsort(first))[labels]


def same_building_pairs(detections: gpd.GeoDataFrame, tiles: dict[str, Any], params: dict[str, Any]
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Positions (i < j) of the detection pairs that are one building (the two rules of the module doc)."""
    geoms = np.asarray(detections.geometry.values)
    tol = params["edge_tolerance_px"] * tiles["pixel_size"]
    # Grown polygons reach at most MITRE_LIMIT * tol further, so this superset holds every pair that can meet.
    i, j = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=2 * MITRE_LIMIT * tol)
    tile, names = pd.factorize(detections.tile_id)
    keep = (i < j) & (tile[i] != tile[j])
    i, j = i[keep], j[keep]
    overlap, failed = iou(geoms[i], geoms[j])
    whole = overlap >= params["iou_threshold"]
    rest = np.flatnonzero(~whole)
    members, inverse = np.unique(np.concatenate([i[rest], j[rest]]), return_inverse=True)
    # a mitre buffer of a pixel-staircase outline can cross itself: repaired, or the clipping below fails
    gi, gj = np.split(valid_polygons(shapely.buffer(geoms[members], tol, join_style="mitre"))[inverse], 2)
    meet = shapely.intersects(gi, gj)  # grown polygons apart share nothing: skip the costly clipping
    rest, gi, gj = rest[meet], gi[meet], gj[meet]
    if len(rest):
        footprints = [tiles["footprints"][name] for name in names]
        shared = _shared_regions(footprints, tile[i[rest]], tile[j[rest]], tol)
        in_i, in_j = overlay(shapely.intersection, gi, shared), overlay(shapely.intersection, gj, shared)
        clipped = np.not_equal(in_i, None) & np.not_equal(in_j, None)
        agree, more = iou(in_i[clipped], in_j[clipped])
        whole[rest[clipped][agree >= params["shared_iou_threshold"]]] = True
        failed += more + int((~clipped).sum())
    warn_failures(failed, "detection pairs across tile borders (left unmerged)")
    return i[whole], j[whole]


def _shared_regions(footprints: list[Any], tile_a: np.ndarray, tile_b: np.ndarray, tol: float) -> np.ndarray:
    """The region two tiles (codes into ``footprints``) both saw, widened by ``tol``; once per tile pair."""
    n = len(footprints)
    pairs, inverse = np.unique(tile_a.astype(np.int64) * n + tile_b, return_inverse=True)
    polygons = np.array(footprints, dtype=object)
    overlap = shapely.intersection(polygons[pairs // n], polygons[pairs % n])
    regions = valid_polygons(shapely.buffer(overlap, tol, join_style="mitre"))
    return regions[inverse]


def merged_buildings(detections: gpd.GeoDataFrame, groups: np.ndarray, pixel: float) -> gpd.GeoDataFrame:
    """One row per group label (in label order): union, area-weighted class scores, tile ids, count.

    ``groups`` must hold every label from 0 to its maximum. ``building_id`` is left at 0 for the caller.
    """
    order = np.argsort(groups, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0]) if len(order) else order
    geoms = np.asarray(detections.geometry.values)[order]
    weights = shapely.area(geoms)
    scores = detections[SCORE_COLUMNS].to_numpy(float)[order]
    scores = _weighted_means(scores, weights, starts)
    best = scores.argmax(axis=1) if len(scores) else np.zeros(0, int)
    frame = gpd.GeoDataFrame(
        {"building_id": np.zeros(len(starts), int),
         "class_name": np.asarray(CLASS_NAMES)[best],
         "score": scores[np.arange(len(starts)), best], **dict(zip(SCORE_COLUMNS, scores.T)),
         "tile_ids": _tile_ids(detections.tile_id.to_numpy()[order], groups[order]),
         "n_merged": np.diff(np.r_[starts, len(order)]),
         "geometry": _unions(geoms, starts, pixel * 1e-3)},
        columns=COLUMNS, geometry="geometry", crs=detections.crs)
    return frame


def _weighted_means(values: np.ndarray, weights: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per-group means of ``values`` rows weighted by ``weights`` (plain mean where a group weighs 0)."""
    if not len(starts):
        return values.reshape(0, values.shape[1])
    total = np.add.reduceat(weights, starts)
    sums = np.add.reduceat(values * weights[:, None], starts, axis=0)
    plain = np.add.reduceat(values, starts, axis=0) / np.diff(np.r_[starts, len(values)])[:, None]
    return np.where(total[:, None] > 0, sums / np.where(total > 0, total, 1)[:, None], plain)


def _tile_ids(tile: np.ndarray, groups: np.ndarray) -> list[list[str]]:
    """Sorted distinct tile ids per group (``groups`` sorted)."""
    names, codes = np.unique(tile, return_inverse=True)
    key = groups.astype(np.int64) * len(names) + codes
    key = np.unique(key)
    bounds = np.r_[0, np.flatnonzero(np.diff(key // len(names))) + 1, len(key)] if len(key) else [0]
    flat = names[key % len(names)].tolist() if len(key) else []
    return [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _unions(geoms: np.ndarray, starts: np.ndarray, grid: float) -> np.ndarray:
    """Union per group (``geoms`` sorted by group); single detections are kept as they are.

    Coordinates are rounded to ``grid`` first, so that fragments meeting at a tile edge share exactly the
    same edge despite float noise between the tiles' transforms. Rounding the coordinates (rather than
    ``shapely.set_precision``, which also switches GEOS to a several times slower fixed-precision overlay)
    keeps the union a plain floating-point overlay. One ``union_all`` call per group size.
    """
    sizes = np.diff(np.r_[starts, len(geoms)])
    out = geoms[starts].copy()
    failed = 0
    for size in np.unique(sizes[sizes > 1]):
        which = np.flatnonzero(sizes == size)
        members = geoms[starts[which, None] + np.arange(size)]
        out[which], more = union_rows(_rounded(members.ravel(), grid).reshape(members.shape))
        failed += more
    warn_failures(failed, "unions of a building's fragments (largest fragment kept)")
    return out


def _rounded(geoms: np.ndarray, grid: float) -> np.ndarray:
    coords = shapely.get_coordinates(geoms)
    return shapely.set_coordinates(geoms.copy(), np.round(coords / grid) * grid)

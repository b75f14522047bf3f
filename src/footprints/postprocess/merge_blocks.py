"""Block-wise cross-tile merge: exactly the buildings of ``merge_detections``, one block of tiles at a time.

For an image with millions of detections, each block of tiles can be merged by its own task (e.g. one Dask
task per block; ``merge_blocks`` is the serial loop):

1. ``plan_blocks`` puts each tile, hence each detection, in a square block of ``block_size`` map units
   (by the tile footprint's top-left corner).
2. ``merge_block`` merges the block's detections together with a halo of the detections around the block
   and keeps only the buildings the block *owns*: those whose first detection (lowest position in
   ``detections``) lies in the block. A building crossing a block seam is thus merged whole by every block
   holding one of its detections, and returned by exactly one.
3. ``combine_blocks`` orders the parts by first detection and numbers them, as ``merge_detections`` does.

Why it is exact: the pair rule looks at two detections only, and two linked detections' bounds are at most
``reach`` apart (polygons grown by the edge tolerance, mitre joins). When every detection of every owned
building lies ``reach`` inside the halo box, no detection outside the halo can link to one of them, so
the owned buildings are whole. ``merge_block`` checks that and doubles the halo until it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from footprints.postprocess.merge import MITRE_LIMIT, building_groups, merged_buildings


@dataclass(frozen=True)
class BlockPlan:
    """Block key and bounds (minx, miny, maxx, maxy) of every detection, and the distinct keys."""

    keys: np.ndarray
    bounds: np.ndarray
    blocks: np.ndarray


def plan_blocks(detections: gpd.GeoDataFrame, tiles: dict[str, Any], block_size: float) -> BlockPlan:
    """Blocks of ``block_size`` map units (e.g. ``8 * tile step * pixel size`` for 8 x 8 tiles)."""
    corners = {tile_id: shapely.bounds(polygon)[[0, 3]] for tile_id, polygon in tiles["footprints"].items()}
    origin = np.array([min(c[0] for c in corners.values()), max(c[1] for c in corners.values())])
    cells = {tile_id: np.floor(np.abs(c - origin) / block_size).astype(np.int64)
             for tile_id, c in corners.items()}
    per_tile = {tile_id: (row << 32) + col for tile_id, (col, row) in cells.items()}
    keys = detections.tile_id.map(per_tile).to_numpy(np.int64)
    return BlockPlan(keys, shapely.bounds(np.asarray(detections.geometry.values)), np.unique(keys))


def merge_block(detections: gpd.GeoDataFrame, tiles: dict[str, Any], params: dict[str, Any], plan: BlockPlan,
                key: int) -> gpd.GeoDataFrame:
    """The buildings block ``key`` owns (``merge_detections`` columns + ``first_detection``)."""
    reach = 2 * MITRE_LIMIT * params["edge_tolerance_px"] * tiles["pixel_size"]
    own = plan.keys == key
    box = np.r_[plan.bounds[own, :2].min(axis=0), plan.bounds[own, 2:].max(axis=0)]
    margin = 2 * float(np.max(plan.bounds[own, 2:] - plan.bounds[own, :2])) + 2 * reach
    while True:
        halo = _meeting(plan.bounds, box + [-margin, -margin, margin, margin])
        local = detections.iloc[halo]
        groups = building_groups(local, tiles, params)
        first = np.full(groups.max() + 1, len(halo))
        np.minimum.at(first, groups, np.arange(len(halo)))
        owned = own[halo[first]]
        members = owned[groups]
        inner = box + [reach - margin, reach - margin, margin - reach, margin - reach]
        if _within(plan.bounds[halo[members]], inner).all():
            break
        margin *= 2
    relabel = np.cumsum(owned) - 1
    frame = merged_buildings(local[members], relabel[groups[members]], tiles["pixel_size"])
    return frame.assign(first_detection=halo[first[owned]])


def combine_blocks(parts: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """The blocks' buildings in one frame, ordered and numbered as ``merge_detections`` returns them."""
    frame = pd.concat(parts, ignore_index=True).sort_values("first_detection", kind="stable")
    frame = gpd.GeoDataFrame(frame.drop(columns="first_detection"), geometry="geometry", crs=parts[0].crs)
    return frame.reset_index(drop=True).assign(building_id=np.arange(1, len(frame) + 1))


def merge_blocks(detections: gpd.GeoDataFrame, tiles: dict[str, Any], params: dict[str, Any],
                 block_size: float) -> gpd.GeoDataFrame:
    """``merge_detections`` computed block by block (serially; each ``merge_block`` call is independent)."""
    if not len(detections):
        return merged_buildings(detections, np.zeros(0, int), tiles["pixel_size"])
    plan = plan_blocks(detections, tiles, block_size)
    return combine_blocks([merge_block(detections, tiles, params, plan, key) for key in plan.blocks])


def _meeting(bounds: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Positions of the bounds that meet ``box`` (edges included)."""
    return np.flatnonzero((bounds[:, 0] <= box[2]) & (bounds[:, 2] >= box[0])
                          & (bounds[:, 1] <= box[3]) & (bounds[:, 3] >= box[1]))


def _within(bounds: np.ndarray, box: np.ndarray) -> np.ndarray:
    return ((bounds[:, 0] >= box[0]) & (bounds[:, 1] >= box[1])
            & (bounds[:, 2] <= box[2]) & (bounds[:, 3] <= box[3]))

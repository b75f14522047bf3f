"""Border-aware breakdown: does tiling hurt buildings that a tile edge cuts in two?

Inference runs per tile and a cross-tile merge stitches the pieces back together. If the merge misses,
buildings on tile borders come out as fragments or duplicates, which the overall F1 hides among the many
buildings inside tiles. Scoring the two groups apart, and counting what the merge removed, shows it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from footprints.evaluation.matching import from_counts, match

CROSSES_BORDER = "crosses_border"
WITHIN_TILE = "within_tile"


def interior_borders(tiles: gpd.GeoDataFrame, image_footprint: BaseGeometry | None = None,
                     tolerance: float = 1e-3) -> BaseGeometry:
    """The tile edges that lie inside their image, as lines.

    A tile edge on the image's outer edge cuts no building, so only the part of the tile outlines inside
    the image footprint shrunk by ``tolerance`` (map units) is kept; the shrink also absorbs floating-point
    noise where a tile edge and the image edge coincide. The footprint is the union of each image's tiles
    (grouped by ``image_id``, so neighbouring images never make each other's edges interior) unless
    ``image_footprint`` is given, which then applies to all ``tiles`` (one image).
    """
    groups = [(tiles, image_footprint)] if image_footprint is not None else [
        (group, shapely.union_all(group.geometry.values)) for _, group in tiles.groupby("image_id")]
    return shapely.union_all([
        shapely.intersection(shapely.union_all(shapely.boundary(group.geometry.values)),
                             shapely.buffer(footprint, -tolerance))
        for group, footprint in groups])


def crosses_border(geoms: gpd.GeoSeries, borders: BaseGeometry) -> pd.Series:
    """True for each geometry that touches or crosses an interior tile edge."""
    shapely.prepare(borders)
    return pd.Series(shapely.intersects(geoms.values, borders), index=geoms.index, dtype=bool)


def border_breakdown(pred: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame,
                     iou_threshold: float = 0.5, image_footprint: BaseGeometry | None = None) -> dict:
    """Class-agnostic scores for truth buildings that cross a tile border vs those inside one tile.

    A matched prediction belongs to the group of its truth building; an unmatched one to the group its own
    polygon falls in (a fragment on a border counts against the border group). Classes are ignored because
    tiling damages shapes, not labels. The ``merge`` entry summarises the cross-tile merge.
    """
    borders = interior_borders(tiles, image_footprint)
    truth_crosses = crosses_border(truth.geometry, borders)
    pred_crosses = crosses_border(pred.geometry, borders)
    pairs = match(pred, truth, iou_threshold)
    matched_crosses = truth_crosses.loc[pairs["truth_index"]].to_numpy()
    pred_crosses.loc[pairs["pred_index"]] = matched_crosses
    breakdown = {name: from_counts(int(np.sum(matched_crosses == flag)), int((pred_crosses == flag).sum()),
                                   int((truth_crosses == flag).sum()))
                 for name, flag in ((CROSSES_BORDER, True), (WITHIN_TILE, False))}
    return {**breakdown, "merge": merge_summary(pred)}


def merge_summary(pred: gpd.GeoDataFrame) -> dict:
    """How many tile detections the cross-tile merge folded together (duplicates and fragments alike)."""
    n_merged = pred["n_merged"].to_numpy(dtype=int)
    n_detections = int(n_merged.sum())
    return {"n_tile_detections": n_detections, "n_buildings": len(pred),
            "n_removed_by_merge": n_detections - len(pred), "n_merged_buildings": int((n_merged > 1).sum()),
            "n_multi_tile_buildings": int((pred["tile_ids"].map(len) > 1).sum())}

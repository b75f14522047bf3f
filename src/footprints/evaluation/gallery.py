"""Which validation tiles the report's gallery shows (those with the most buildings that are mostly image),
and what one panel holds.

A tile past the image edge is mostly nodata padding; shown, it says nothing about the model. Counting
buildings per tile is one STRtree query over all tiles (a per-tile ``intersects`` scan is quadratic: 3,600
tiles x 23,911 buildings took 2.4 s, the query 0.02 s; see ``benchmarks/reporting.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


class GalleryItem(NamedTuple):
    """One gallery panel: RGB (H x W x 3 floats in [0, 1]), truth polygons, (predicted polygon, score) pairs
    in pixel coordinates, and optionally the image's valid pixels (H x W bool; padding False) and a title."""

    rgb: np.ndarray
    truth: Sequence[BaseGeometry]
    pred: Sequence[tuple[BaseGeometry, float]]
    valid: np.ndarray | None = None
    title: str = ""


def buildings_per_tile(tiles: np.ndarray, buildings: np.ndarray) -> np.ndarray:
    """How many of ``buildings`` touch each of ``tiles`` (geometry arrays in one CRS)."""
    tile_pos, _ = shapely.STRtree(np.asarray(buildings)).query(np.asarray(tiles), predicate="intersects")
    return np.bincount(tile_pos, minlength=len(tiles))


def gallery_tiles(tiles: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, n: int,
                  min_valid_fraction: float = 0.5) -> gpd.GeoDataFrame:
    """The ``n`` tiles to draw, with an ``n_truth`` column: tiles whose ``valid_fraction`` (image share,
    from the tile index) reaches ``min_valid_fraction`` first, then most truth buildings, most image,
    ``tile_id``. Tiles below the bar are only used when too few reach it."""
    valid = tiles["valid_fraction"].to_numpy(float) if "valid_fraction" in tiles else np.ones(len(tiles))
    ranked = tiles.assign(n_truth=buildings_per_tile(tiles.geometry.values, truth.geometry.values),
                          valid_fraction=valid, mostly_image=valid >= min_valid_fraction)
    ranked = ranked.sort_values(["mostly_image", "n_truth", "valid_fraction", "tile_id"],
                                ascending=[False, False, False, True])
    return ranked.drop(columns="mostly_image").head(n)

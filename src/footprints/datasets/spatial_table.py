"""What a label database offers the pipelines, whichever engine holds it (GeoPackage file or PostGIS).

A lazy handle lets the per-tile label query run where the data lives: one spatial join over the whole tile
index, never one query per tile and never the whole table pulled into Python first.
"""

from __future__ import annotations

from typing import Protocol

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon

from footprints.geo import polygonal_parts

TILE_KEY = "tile_id"
POLYGON = 3  # shapely.GeometryType.POLYGON


class SpatialTable(Protocol):
    """A table of geometries with a spatial index."""

    crs: CRS | None

    def read(self, bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
        """Rows whose geometry intersects ``bbox`` (all rows when None), with their CRS."""

    def clip_to(self, tiles: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Each row intersecting each tile footprint, clipped to it, as ``tile_id`` + row attributes."""


def all_boxes(tiles: gpd.GeoDataFrame) -> bool:
    """True when every footprint is its own bounding box (up to float noise): the in-image part of a north-up
    tile in its image CRS. A row whose bounding box lies inside such a footprint is inside it, unclipped."""
    geoms = tiles.geometry.values
    return bool(np.allclose(shapely.area(geoms), shapely.area(shapely.envelope(geoms)), rtol=1e-9, atol=0))


def clip_pairs(geoms: np.ndarray, footprints: np.ndarray, boxes: bool) -> np.ndarray:
    """``geoms[i]`` clipped to ``footprints[i]``. With box footprints only the geometries reaching past their
    box are intersected (most buildings lie inside a tile: a bounds comparison settles those)."""
    if not boxes:
        return shapely.intersection(geoms, footprints)
    inner, outer = shapely.bounds(geoms), shapely.bounds(footprints)
    inside = np.all(inner[:, :2] >= outer[:, :2], axis=1) & np.all(inner[:, 2:] <= outer[:, 2:], axis=1)
    clipped = geoms.copy()
    cut = ~inside
    clipped[cut] = shapely.intersection(geoms[cut], footprints[cut])
    return clipped


def finish_clip(clipped: gpd.GeoDataFrame, sort_by: list[str]) -> gpd.GeoDataFrame:
    """Keep only the polygonal part of each clipped geometry and drop what is left empty.

    An intersection with a tile edge can add slivers of lines or points (a building touching the border);
    both engines return those, and both go through this one function so they agree row for row.
    """
    geoms = clipped.geometry.values.copy()
    # valid polygons (almost all rows) are kept as they are; only the rest goes through Python
    odd = np.flatnonzero((shapely.get_type_id(geoms) != POLYGON) | ~shapely.is_valid(geoms))
    geoms[odd] = [_polygonal(g) for g in geoms[odd]]
    clipped = clipped.set_geometry(gpd.GeoSeries(geoms, index=clipped.index, crs=clipped.crs))
    clipped = clipped[~clipped.geometry.is_empty & (shapely.area(clipped.geometry.values) > 0)]
    return clipped.sort_values(sort_by, kind="stable").reset_index(drop=True)


def _polygonal(geom):
    parts = polygonal_parts(shapely.make_valid(geom) if geom is not None and not geom.is_valid else geom)
    if not parts:
        return MultiPolygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)

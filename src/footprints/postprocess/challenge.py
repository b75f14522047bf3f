"""The Open AI Tanzania Building Detection challenge submission format, one CSV per raw image.

``coords_geo`` is a WKT polygon in WGS84 with **latitude first** (the challenge's own example reads
``POLYGON ((-5.7226 39.3043, ...))`` for Zanzibar), unlike GeoJSON and the GeoPackage outputs, which keep
longitude/easting first. ``coords_pixel`` is the polygon in the raw image's pixel grid (column, row), origin at
the top-left corner of the top-left pixel.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely
from affine import Affine
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from footprints.geo import WGS84, map_to_pixel, polygonal_parts, reproject, swap_xy

GEO_DECIMALS, PIXEL_DECIMALS = 9, 2  # 1e-9 degree is 0.1 mm; 1/100 pixel
CSV_COLUMNS = ["building_id", "conf_foundation", "conf_unfinished", "conf_completed", "coords_geo",
               "coords_pixel"]


def challenge_table(buildings: gpd.GeoDataFrame, image_transform: Affine) -> pd.DataFrame:
    """The challenge CSV rows for the merged buildings of one image (map CRS in, WKT out).

    One row per building, always a valid POLYGON: a building that stays in several parts after merging is
    written as its largest part (docs/decisions.md says why); the GeoPackage and GeoJSON keep every part.
    """
    geoms = [largest_part(g) for g in buildings.geometry.values]
    lonlat = reproject(geoms, buildings.crs, WGS84) if len(buildings) else []
    pixels = [map_to_pixel(g, image_transform) for g in geoms]
    return pd.DataFrame({
        "building_id": buildings.building_id.to_numpy(),
        "conf_foundation": buildings.conf_foundation.to_numpy(),
        "conf_unfinished": buildings.conf_incomplete.to_numpy(),
        "conf_completed": buildings.conf_complete.to_numpy(),
        "coords_geo": [polygon_wkt(swap_xy(g), GEO_DECIMALS) for g in lonlat],
        "coords_pixel": [polygon_wkt(g, PIXEL_DECIMALS) for g in pixels],
    }, columns=CSV_COLUMNS)


def largest_part(geom: BaseGeometry) -> Polygon:
    """The polygon of largest area of a (multi)polygon."""
    parts = polygonal_parts(geom)
    return max(parts, key=lambda p: p.area) if parts else Polygon()


def polygon_wkt(geom: BaseGeometry, decimals: int) -> str:
    """WKT of a polygon snapped to a grid of ``10**-decimals``, valid on that grid, printed at that precision.

    ``shapely.set_precision`` snaps and repairs together (a vertex pair that snapping makes cross is fixed,
    a part thinner than the grid disappears), so the printed polygon is exactly the valid one; if snapping
    splits it, the largest piece is kept.
    """
    snapped = largest_part(shapely.set_precision(geom, 10.0 ** -decimals))
    return shapely.to_wkt(snapped, rounding_precision=decimals, trim=True)

"""The Open AI Tanzania Building Detection challenge submission format, one CSV per raw image.

``coords_geo`` is a WKT polygon in WGS84 with **latitude first** (the challenge's own example reads
``POLYGON ((-5.7226 39.3043, ...))`` for Zanzibar), unlike GeoJSON and the GeoPackage outputs, which keep
longitude/easting first. ``coords_pixel`` is the polygon in the raw image's pixel grid (column, row), origin at
the top-left corner of the top-left pixel.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

from footprints.geo import WGS84, map_to_pixel, reproject, swap_xy

CSV_COLUMNS = ["building_id", "conf_foundation", "conf_unfinished", "conf_completed", "coords_geo",
               "coords_pixel"]


def challenge_table(buildings: gpd.GeoDataFrame, image_transform: Affine) -> pd.DataFrame:
    """The challenge CSV rows for the merged buildings of one image (map CRS in, WKT out)."""
    lonlat = reproject(buildings.geometry.values, buildings.crs, WGS84) if len(buildings) else []
    pixels = [map_to_pixel(g, image_transform) for g in buildings.geometry.values]
    return pd.DataFrame({
        "building_id": buildings.building_id.to_numpy(),
        "conf_foundation": buildings.conf_foundation.to_numpy(),
        "conf_unfinished": buildings.conf_incomplete.to_numpy(),
        "conf_completed": buildings.conf_complete.to_numpy(),
        "coords_geo": [_wkt(swap_xy(g), 9) for g in lonlat],
        "coords_pixel": [_wkt(g, 2) for g in pixels],
    }, columns=CSV_COLUMNS)


def _wkt(geom, decimals: int) -> str:
    """WKT with coordinates rounded to ``decimals`` (GEOS' own rounding option keeps tiny values as is)."""
    return shapely.to_wkt(shapely.transform(geom, lambda xy: np.round(xy, decimals) + 0.0), trim=True)

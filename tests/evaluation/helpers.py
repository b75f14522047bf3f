"""Hand-made buildings in metres near a point of EPSG:32737 (UTM 37S), shaped as the pipeline has them."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

CRS = "EPSG:32737"
X0, Y0 = 532900.0, 9366800.0


def square(dx: float, dy: float, size: float = 10.0) -> BaseGeometry:
    """A size x size square with its lower-left corner dx, dy metres from the origin point."""
    return rect(dx, dy, dx + size, dy + size)


def rect(x1: float, y1: float, x2: float, y2: float) -> BaseGeometry:
    return box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def truth(*rows: tuple[BaseGeometry, str]) -> gpd.GeoDataFrame:
    """Ground truth from (geometry, class_name) rows."""
    return gpd.GeoDataFrame({"label_id": range(len(rows)), "class_name": [c for _, c in rows]},
                            geometry=[g for g, _ in rows], crs=CRS)


def pred(*rows: tuple[BaseGeometry, str, float]) -> gpd.GeoDataFrame:
    """Merged predictions from (geometry, class_name, score) rows, with the columns inference writes."""
    names = [c for _, c, _ in rows]
    frame = {"building_id": range(len(rows)), "class_name": names, "score": [s for _, _, s in rows]}
    for name in ("complete", "incomplete", "foundation"):
        frame[f"conf_{name}"] = [s if c == name else 0.0 for _, c, s in rows]
    frame["tile_ids"] = [["t0"] for _ in rows]
    frame["n_merged"] = [1] * len(rows)
    return gpd.GeoDataFrame(frame, geometry=[g for g, _, _ in rows], crs=CRS)

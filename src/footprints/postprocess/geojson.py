"""GeoJSON geometry dicts (as ``json.load`` returns them) to shapely arrays, with no Python object per vertex.

``shapely.geometry.shape`` builds each polygon through Python coordinate sequences (~20 us a polygon); here
all rings of all (multi)polygons go into one coordinate array with offsets and one
``shapely.from_ragged_array`` call builds them, about 5x faster. Other geometry types are rare in tile
documents and go through ``shape``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

_RAGGED = {"Polygon": shapely.GeometryType.POLYGON, "MultiPolygon": shapely.GeometryType.MULTIPOLYGON}


def geometries_from_geojson(geometries: Sequence[dict[str, Any]]) -> np.ndarray:
    """Shapely geometries (object array, input order) of GeoJSON geometry mappings."""
    out = np.empty(len(geometries), dtype=object)
    kinds = np.array([g["type"] for g in geometries], dtype=object)
    for kind, geometry_type in _RAGGED.items():
        which = np.flatnonzero(kinds == kind)
        if len(which):
            polygons = [[g["coordinates"]] if kind == "Polygon" else g["coordinates"]
                        for g in (geometries[k] for k in which)]
            out[which] = _from_polygon_lists(polygons, geometry_type)
    for k in np.flatnonzero(~np.isin(kinds, list(_RAGGED))):
        out[k] = shape(geometries[k])
    return out


def _from_polygon_lists(items: list[list[list[list[Any]]]], geometry_type: shapely.GeometryType
                        ) -> np.ndarray:
    """``items``: per geometry, a list of polygons, each a list of rings of [x, y] positions."""
    coords: list[Any] = []
    ring_ends, polygon_ends, part_ends = [0], [0], [0]
    for polygons in items:
        for rings in polygons:
            for ring in rings:
                coords.extend(ring)
                ring_ends.append(len(coords))
            polygon_ends.append(len(ring_ends) - 1)
        part_ends.append(len(polygon_ends) - 1)
    offsets = (np.array(ring_ends), np.array(polygon_ends))
    if geometry_type == shapely.GeometryType.MULTIPOLYGON:
        offsets = (*offsets, np.array(part_ends))
    xy = np.array(coords, dtype=float).reshape(-1, 2) if coords else np.zeros((0, 2))
    return shapely.from_ragged_array(geometry_type, xy, offsets)

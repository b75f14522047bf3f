"""Set operations on detections that no valid-but-hostile polygon can crash.

A trained model's masks become polygons with hundreds of pixel-staircase vertices; reprojected to metres and
grown by a mitre buffer, two valid polygons can still make GEOS's floating-point overlay fail
("TopologyException: Ring edge missing", "side location conflict": ``tests/data/regressions/``). Every
overlay of the polygon chain goes through ``overlay`` here:

1. the fast vectorised floating-point call, as before (nearly always enough);
2. if GEOS raises, the batch is split in halves until the failing elements are alone (the rest stay
   vectorised), and each of those is redone with snap-rounding to a ``grid`` of 1 mm in the metric CRS
   (GEOS's OverlayNG with a fixed precision, robust for valid inputs), then on inputs made valid, then
   on inputs made valid and snapped;
3. an element that still fails gives ``None``, which the caller turns into "kept as it was" (a pair not
   merged, a building not clipped) and counts in a WARNING: one building never stops an image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import shapely
from pyproj import CRS
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

from footprints.geo import polygonal_parts

log = logging.getLogger(__name__)

GRID_M = 0.001  # snap-rounding grid of the fallback, in metres (the chain's set operations run in metres)

Operation = Callable[..., np.ndarray]
METRES_PER_DEGREE = 111_320.0  # at the equator: a degree is never longer, so the grid is never coarser


def grid_for(crs: object) -> float:
    """The fallback grid in the units of ``crs``: 1 mm, or the degrees that hold 1 mm (a geographic CRS)."""
    return GRID_M / METRES_PER_DEGREE if getattr(CRS.from_user_input(crs), "is_geographic", False) else GRID_M


def overlay(operation: Operation, a: np.ndarray, b: np.ndarray | BaseGeometry, grid: float = GRID_M
            ) -> np.ndarray:
    """``operation(a, b)`` element-wise (``shapely.intersection``, ``shapely.union``...); ``None`` where even
    snap-rounding to ``grid`` fails. ``b`` may be one geometry for all of ``a``."""
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    return elementwise(operation, [a, np.broadcast_to(b, a.shape) if b.ndim == 0 else b], grid)


def elementwise(function: Operation, arrays: list[np.ndarray], grid: float = GRID_M) -> np.ndarray:
    """``function(*arrays)`` (arrays sharing their first axis, one result each), robust as the module says."""
    try:
        return function(*arrays)
    except GEOSException:
        if len(arrays[0]) > 1:
            half = len(arrays[0]) // 2
            return np.concatenate([elementwise(function, [x[:half] for x in arrays], grid),
                                   elementwise(function, [x[half:] for x in arrays], grid)])
    for inputs in (arrays, [valid_polygons(x) for x in arrays], [repaired(x, grid) for x in arrays]):
        try:
            return function(*inputs, grid_size=grid)
        except GEOSException:
            continue
    return np.array([None], dtype=object)


def valid_polygons(geoms: np.ndarray) -> np.ndarray:
    """``geoms`` each a valid Polygon or MultiPolygon: an invalid one made valid, and any result reduced to its
    polygons (a mitre buffer of a staircase outline can cross itself; ``make_valid`` and clipping may return
    lines and points beside the polygons)."""
    geoms = np.array(geoms, dtype=object)
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])  # Polygon, MultiPolygon
    bad = ~(shapely.is_valid(geoms) & polygonal)
    if bad.any():
        fixed = [polygonal_parts(g) for g in shapely.make_valid(geoms[bad]).ravel()]
        geoms[bad] = [parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts) for parts in fixed]
    return geoms


def repaired(geoms: np.ndarray, grid: float = GRID_M) -> np.ndarray:
    """``geoms`` made valid, then snapped to ``grid`` (``set_precision`` keeps them valid)."""
    return shapely.set_precision(valid_polygons(geoms), grid)


def union_rows(members: np.ndarray, grid: float = GRID_M) -> tuple[np.ndarray, int]:
    """Union of each row of a 2-D array of polygons, and how many rows fell back to their largest member
    (their union failed even snap-rounded): those buildings stay unmerged rather than stopping the image."""
    unions = elementwise(_union_each_row, [members], grid)
    failed = np.flatnonzero(np.equal(unions, None))
    for row in failed:
        unions[row] = members[row][np.argmax(shapely.area(members[row]))]
    return unions, len(failed)


def _union_each_row(rows: np.ndarray, grid_size: float | None = None) -> np.ndarray:
    return shapely.union_all(rows, axis=1, grid_size=grid_size)


def iou(a: np.ndarray, b: np.ndarray | BaseGeometry, grid: float = GRID_M) -> tuple[np.ndarray, int]:
    """Intersection over union of ``a`` and ``b`` element-wise (0 where both are empty), and the number of
    pairs whose intersection failed even snap-rounded: they count as IoU 0 (not the same building)."""
    a = np.asarray(a, dtype=object)
    inter_geoms = overlay(shapely.intersection, a, b, grid)
    failed = np.equal(inter_geoms, None)
    inter = np.where(failed, 0.0, shapely.area(np.where(failed, shapely.Polygon(), inter_geoms)))
    union = shapely.area(a) + shapely.area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0), int(failed.sum())


def warn_failures(count: int, what: str) -> None:
    """One WARNING for the geometries a step had to keep as they were."""
    if count:
        log.warning("%d %s failed even snapped to a %g m grid; kept as they were", count, what, GRID_M)

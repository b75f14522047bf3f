"""The one home of georeference math: tile windows, pixel <-> map transforms, rasterise and polygonise.

Every coordinate conversion in the project goes through this module, so an off-by-half-pixel or an axis swap
can only hide in one place, and the oracle round-trip test covers it.
Pixel coordinates follow rasterio: (col, row) = (x, y), origin at the top-left corner of the top-left pixel.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio import features, windows
from rasterio.windows import Window
from shapely.geometry import MultiPolygon, Polygon, box, shape
from shapely.geometry.base import BaseGeometry

from footprints.errors import InputError

WGS84 = CRS.from_epsg(4326)
_WEB_MERCATOR_METHODS = {"Popular Visualisation Pseudo Mercator"}


@dataclass(frozen=True)
class TileSpec:
    """Where a tile sits in its image: pixel offsets and the tile's own georeference."""

    image_id: str
    row_off: int
    col_off: int
    size: int
    transform: Affine

    @property
    def tile_id(self) -> str:
        return tile_id(self.image_id, self.row_off, self.col_off)

    @property
    def window(self) -> Window:
        return Window(self.col_off, self.row_off, self.size, self.size)


@dataclass(frozen=True)
class TileGrid:
    """The georeference of a stored tile: enough to place its pixels on the map."""

    tile_id: str
    image_id: str
    transform: Affine
    crs: CRS
    height: int
    width: int
    measured_in: CRS | None = None  # the image's metric CRS (tile index column ``metric_crs``)

    @classmethod
    def from_index_row(cls, row: Any) -> TileGrid:
        """From a tile-index row (``transform`` stored as JSON text of the six affine coefficients)."""
        metric = getattr(row, "metric_crs", None)
        return cls(row.tile_id, row.image_id, Affine(*json.loads(row.transform)), _crs(row.crs),
                   int(row.height), int(row.width), _crs(metric) if metric else None)

    @property
    def metric_crs(self) -> CRS:
        """Where this tile's lengths and areas are measured: its image's metric CRS (see ``metric_crs``)."""
        return self.measured_in or metric_crs(self.crs, footprint(self.transform, self.width, self.height).bounds)


def tile_id(image_id: str, row_off: int, col_off: int) -> str:
    """Stable, sortable tile name that says where the tile lies in its image."""
    return f"{image_id}_r{row_off:05d}_c{col_off:05d}"


def image_of_tile(tile: str) -> str:
    """The image id inside a tile id made by ``tile_id`` (so work can be grouped by image unread)."""
    image, sep, _ = tile.rpartition("_r")
    if not sep or not re.fullmatch(r"\d{5,}_c\d{5,}", _):
        raise InputError(f"tile id {tile!r} is not <image>_rNNNNN_cNNNNN; re-run the preprocessing pipeline")
    return image


def check_tiling(tile_size: int, overlap: int) -> None:
    """Reject tilings that make no sense before any pixel is read."""
    where = "set preprocessing.tile_size / preprocessing.overlap in conf/base/parameters_preprocessing.yml"
    if not isinstance(tile_size, int) or tile_size <= 0:
        raise InputError(f"preprocessing.tile_size must be a positive integer of pixels, got {tile_size!r}; {where}")
    if not isinstance(overlap, int) or overlap < 0:
        raise InputError(f"preprocessing.overlap must be an integer >= 0 pixels, got {overlap!r}; {where}")
    if overlap >= tile_size:
        raise InputError(f"preprocessing.overlap ({overlap}) must be smaller than preprocessing.tile_size "
                         f"({tile_size}); {where}")


def tile_offsets(length: int, tile_size: int, overlap: int) -> list[int]:
    """Start offsets along one axis; the last tile may run past the edge (it is padded with nodata)."""
    stride = tile_size - overlap
    count = max(1, -(-(length - overlap) // stride))
    return [i * stride for i in range(count)]


def iter_tiles(image_id: str, width: int, height: int, transform: Affine, tile_size: int,
               overlap: int) -> Iterator[TileSpec]:
    """All tiles of an image in row-major order, each with the transform of its own pixel grid."""
    check_tiling(tile_size, overlap)
    for row_off in tile_offsets(height, tile_size, overlap):
        for col_off in tile_offsets(width, tile_size, overlap):
            window = Window(col_off, row_off, tile_size, tile_size)
            yield TileSpec(image_id, row_off, col_off, tile_size, windows.transform(window, transform))


def footprint(transform: Affine, width: int, height: int) -> Polygon:
    """The map-coordinate polygon covered by a pixel grid."""
    return pixel_to_map(box(0, 0, width, height), transform)


def ground_pixel_size(transform: Affine, width: int, height: int, crs: CRS | str, metric: CRS | str) -> float:
    """Ground size of one pixel of a grid in ``metric`` units (metres), whatever units the grid's CRS has:
    the square root of the mean pixel area of the grid's footprint reprojected there."""
    area = reproject([footprint(transform, width, height)], crs, metric)[0].area
    return float(np.sqrt(area / (width * height)))


def coordinate_decimals(pixel: float, fraction: float = 0.01) -> int:
    """Decimals that keep coordinates to ``fraction`` of a pixel of size ``pixel`` (in the same units):
    more digits are noise of float arithmetic, and they make the JSON of every polygon twice as long."""
    return max(0, int(np.ceil(-np.log10(pixel * fraction))))


def pixel_to_map(geom: BaseGeometry, transform: Affine) -> BaseGeometry:
    """Pixel (col, row) coordinates to map coordinates of the grid's CRS."""
    return shapely.transform(geom, lambda xy: _apply(transform, xy))


def map_to_pixel(geom: BaseGeometry, transform: Affine) -> BaseGeometry:
    """Map coordinates to pixel (col, row) coordinates of a grid (fractional, never truncated)."""
    return shapely.transform(geom, lambda xy: _apply(~transform, xy))


def _apply(transform: Affine, xy: np.ndarray) -> np.ndarray:
    a, b, c, d, e, f = transform[:6]
    x, y = xy[:, 0], xy[:, 1]
    return np.column_stack([a * x + b * y + c, d * x + e * y + f])


def reproject(geoms: Iterable[BaseGeometry], src_crs: CRS | str, dst_crs: CRS | str) -> list[BaseGeometry]:
    """Reproject geometries between CRSs (x/y order always: longitude first for geographic CRSs)."""
    src, dst = _crs(src_crs), _crs(dst_crs)
    geoms = list(geoms)
    if src == dst:
        return geoms
    transformer = _transformer(src, dst)
    return [shapely.transform(g, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
            for g in geoms]


def _crs(value: CRS | str) -> CRS:
    return value if isinstance(value, CRS) else _crs_of_text(value)


@lru_cache(maxsize=256)
def _crs_of_text(text: str) -> CRS:
    return CRS.from_user_input(text)


_transformers = threading.local()


def _transformer(src: CRS, dst: CRS) -> Transformer:
    """One transformer per CRS pair and thread, made once: building one costs 5-30 ms (PROJ looks up the
    operation), which per tile was most of the time polygonising took; pyproj transformers are used by one
    thread at a time here."""
    cache = _transformers.__dict__.setdefault("by_pair", {})
    if (src, dst) not in cache:
        cache[(src, dst)] = Transformer.from_crs(src, dst, always_xy=True)
    return cache[(src, dst)]


def metric_crs(crs: CRS | str, bounds: tuple[float, float, float, float]) -> CRS:
    """The CRS in which lengths, areas, tolerances and IoU of one image are measured, in metres.

    The image's own CRS when it is projected in metres and not Web Mercator (whose scale grows as 1/cos(lat):
    +0.6% at 6 degrees, +15% at 30); otherwise (degrees, feet, Web Mercator) the UTM zone of the centre of
    ``bounds`` (in ``crs``), north or south. Each image gets its own: images far apart never share one.
    """
    crs = CRS.from_user_input(crs)
    if crs.is_projected and _in_metres(crs) and not _is_web_mercator(crs):
        return crs
    left, bottom, right, top = bounds
    lon, lat = reproject([shapely.Point((left + right) / 2, (bottom + top) / 2)], crs, WGS84)[0].coords[0]
    return utm_crs(lon, lat)


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM zone (EPSG:326zz north, 327zz south) that holds a point; the standard 6-degree zones."""
    zone = min(int((lon + 180) // 6) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _in_metres(crs: CRS) -> bool:
    return all(axis.unit_name in ("metre", "meter") for axis in crs.axis_info)


def _is_web_mercator(crs: CRS) -> bool:
    operation = crs.coordinate_operation
    return operation is not None and operation.method_name in _WEB_MERCATOR_METHODS


def swap_xy(geom: BaseGeometry) -> BaseGeometry:
    """Swap axis order, e.g. (lon, lat) to the (lat, lon) order of the Tanzania challenge CSV."""
    return shapely.transform(geom, lambda xy: xy[:, ::-1])


def rasterize_instances(geoms: Iterable[BaseGeometry], transform: Affine, size: tuple[int, int]) -> np.ndarray:
    """One binary mask per geometry in a pixel grid, holes kept (N x H x W, uint8).

    A pixel belongs to a building when its centre lies inside the polygon, as in rasterio's default.
    """
    geoms = list(geoms)
    masks = np.zeros((len(geoms), *size), dtype=np.uint8)
    for i, geom in enumerate(geoms):
        if not geom.is_empty:
            features.rasterize([(geom, 1)], out=masks[i], transform=transform, dtype=np.uint8)
    return masks


def polygonize_mask(mask: np.ndarray, transform: Affine, simplify: float = 0.0) -> BaseGeometry:
    """The (multi)polygon of a binary mask in the grid's map coordinates, holes kept.

    ``simplify`` is a tolerance in map units (topology preserving); 0 keeps the exact pixel outline.
    """
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return Polygon()
    # only the mask's bounding box is traced (a building is a few % of a tile): same outline, less to scan
    top, left = int(rows[0]), int(cols[0])
    mask = np.ascontiguousarray(mask[top:rows[-1] + 1, left:cols[-1] + 1].astype(np.uint8))
    parts = [shape(geom) for geom, value in features.shapes(mask, mask=mask > 0,
                                                            transform=transform * Affine.translation(left, top))
             if value == 1]
    if not parts:
        return Polygon()
    geom = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    if simplify > 0:
        geom = geom.simplify(simplify, preserve_topology=True)
    return geom


def polygonal_parts(geom: BaseGeometry | None) -> list[Polygon]:
    """The non-empty polygons of any geometry (collections from intersections, multipolygons, ...)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if hasattr(geom, "geoms"):
        return [p for part in geom.geoms for p in polygonal_parts(part)]
    return []


def pixel_size(transform: Affine) -> float:
    """Ground size of one pixel (square root of the pixel area), in map units."""
    return float(np.sqrt(abs(transform.determinant)))


def is_rotated(transform: Affine) -> bool:
    """True when the grid has rotation or shear terms, which tiles and masks do not support."""
    return transform.b != 0 or transform.d != 0

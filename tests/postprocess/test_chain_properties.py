"""Property: the polygon chain (masks -> tile documents -> merged buildings -> challenge CSV) never breaks.

Hypothesis draws an image (UTM 37S, EPSG:4326 or Web Mercator, 5-30 cm pixels, a few hundred pixels a side)
and a tiling with padded edge tiles, then hostile instance masks per tile: blobs, masks with holes, one-pixel
lines and staircases, checkerboards, masks flush with a tile edge or reaching into the padding beyond the
image, empty masks, and image-level shapes seen by every tile they cross (fragments and duplicates for the
merge). Everything runs through the project's own functions, as the predict and inference pipelines call
them: ``iter_tiles`` and the in-image part of each tile as ``tile_images`` indexes it, ``tile_prediction``,
``image_buildings`` and ``challenge_table`` with the shipped ``polygons`` / ``merge`` parameters.

Asserted: no exception; every building is valid, non-empty and inside the image footprint (1e-6 of the image
size of tolerance); no polygon part is smaller than ``min_area_m2`` in the image's metric CRS; every CSV
polygon parses as a valid, non-empty POLYGON.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS
from shapely import wkt
from shapely.geometry import Point

from footprints.classes import CLASS_NAMES
from footprints.geo import WGS84, TileGrid, footprint, iter_tiles, metric_crs, polygonal_parts, reproject
from footprints.postprocess.buildings import image_buildings
from footprints.postprocess.challenge import challenge_table
from footprints.postprocess.tile_polygons import tile_prediction
from tests.conftest import project_params
from tests.postprocess.test_merge import Instance

IMAGE_CRSS = ("EPSG:32737", "EPSG:4326", "EPSG:3857")
OUTSIDE = 1e-6  # how far a building may reach outside the image, as a fraction of the image's size
AREA_NOISE = 1e-9  # m2 per metre of outline a part may lack of min_area_m2: float noise of CRS round trips
METRES_PER_DEGREE = 111_320.0


@dataclass
class Image:
    crs: str
    transform: Affine
    width: int
    height: int
    tile_size: int
    overlap: int

    @property
    def area(self):
        return footprint(self.transform, self.width, self.height)


@dataclass
class Detection:
    """One instance of a tile: the union of ``parts`` (shapes in the tile's pixel grid), with its scores."""

    parts: list[tuple]
    class_id: int
    score: float
    class_scores: dict[str, float]


@dataclass
class Case:
    """Shapes, not masks, so that a falsifying example prints readably."""

    image: Image
    shared: list[tuple]  # shapes in the image's pixel grid: each tile that sees one detects its part
    detections: list[list[Detection]]  # each tile's own detections, in the order of ``tiles(image)``
    shared_scores: list[tuple[int, float, dict[str, float]]]  # class id, score, class scores of ``shared``


def tiles(image: Image) -> list:
    return list(iter_tiles("img", image.width, image.height, image.transform, image.tile_size, image.overlap))


def tile_instances(case: Case, spec) -> list[Instance]:
    """The instances a predictor would give for one tile of ``case``."""
    size, index = spec.size, tiles(case.image).index(spec)
    rows, cols = np.arange(size)[:, None], np.arange(size)[None, :]
    instances = []
    for shape, (class_id, score, scores) in zip(case.shared, case.shared_scores):
        mask = render(shape, rows + spec.row_off, cols + spec.col_off)
        if mask.any():
            instances.append(Instance(mask, class_id, score, scores))
    for det in case.detections[index]:
        mask = np.logical_or.reduce([render(s, rows, cols) for s in det.parts])
        instances.append(Instance(mask, det.class_id, det.score, det.class_scores))
    return instances


# ---------------------------------------------------------------- shapes, in the pixel grid of a frame

def render(shape: tuple, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The pixels (``rows`` x ``cols`` index arrays of the frame, broadcast) that ``shape`` covers."""
    kind, *p = shape
    r, c = rows + 0.5, cols + 0.5  # pixel centres
    if kind == "empty":
        return np.zeros(np.broadcast_shapes(rows.shape, cols.shape), bool)
    if kind == "ellipse":
        cy, cx, ry, rx = p
        return ((r - cy) / ry) ** 2 + ((c - cx) / rx) ** 2 <= 1
    if kind == "ring":  # an ellipse with an elliptic hole
        cy, cx, ry, rx, k = p
        d = ((r - cy) / ry) ** 2 + ((c - cx) / rx) ** 2
        return (d <= 1) & (d > k * k)
    if kind == "rect":
        r0, c0, r1, c1 = p
        return (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
    if kind == "frame":  # a rectangle with a rectangular hole
        r0, c0, r1, c1, t = p
        outer = (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
        return outer & ~((rows >= r0 + t) & (rows < r1 - t) & (cols >= c0 + t) & (cols < c1 - t))
    if kind == "line":  # one pixel wide: along a row, a column, or a diagonal (pixels touching at corners)
        r0, c0, length, direction = p
        dr, dc = {"h": (0, 1), "v": (1, 0), "d": (1, 1), "a": (1, -1)}[direction]
        k = (rows - r0) if dr else (cols - c0)  # step along the line
        return (k >= 0) & (k < length) & (rows == r0 + dr * k) & (cols == c0 + dc * k)
    if kind == "stair":  # a one-pixel staircase, 4-connected
        r0, c0, length = p
        t = cols - c0 - (rows - r0)
        return (rows >= r0) & (rows < r0 + length) & ((t == 0) | (t == 1))
    if kind == "checker":
        r0, c0, r1, c1, cell = p
        inside = (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
        return inside & (((rows - r0) // cell + (cols - c0) // cell) % 2 == 0)
    raise ValueError(kind)


@st.composite
def shapes(draw, h: int, w: int) -> tuple:
    """One shape anywhere around a frame of ``h`` x ``w`` pixels (it may leave the frame)."""
    kind = draw(st.sampled_from(["ellipse", "ring", "rect", "frame", "line", "stair", "checker", "empty"]))
    row = st.integers(-h // 4, h + h // 4)
    col = st.integers(-w // 4, w + w // 4)
    if kind == "empty":
        return ("empty",)
    if kind in ("ellipse", "ring"):
        cy, cx = draw(row), draw(col)
        ry = draw(st.floats(0.5, max(h, w) / 2))
        rx = draw(st.floats(0.5, max(h, w) / 2))
        return (kind, cy, cx, ry, rx) + ((draw(st.floats(0.2, 0.9)),) if kind == "ring" else ())
    if kind == "line":
        return ("line", draw(row), draw(col), draw(st.integers(1, max(h, w))), draw(st.sampled_from("hvda")))
    if kind == "stair":
        return ("stair", draw(row), draw(col), draw(st.integers(1, max(h, w))))
    r0, c0 = draw(row), draw(col)
    r1 = r0 + draw(st.integers(1, h // 2))
    c1 = c0 + draw(st.integers(1, w // 2))
    if kind == "rect":
        return ("rect", r0, c0, r1, c1)
    if kind == "frame":
        return ("frame", r0, c0, r1, c1, draw(st.integers(1, 6)))
    return ("checker", r0, c0, min(r1, r0 + 48), min(c1, c0 + 48), draw(st.integers(1, 6)))


@st.composite
def edge_shapes(draw, size: int, valid_h: int, valid_w: int) -> tuple:
    """A rectangle flush with one tile edge, or one crossing the image edge into the tile's padding."""
    side = draw(st.sampled_from(["top", "bottom", "left", "right", "padding"]))
    a, b = sorted(draw(st.lists(st.integers(0, size), min_size=2, max_size=2, unique=True)))
    depth = draw(st.integers(1, size // 2))
    if side == "top":
        return ("rect", 0, a, depth, b)
    if side == "bottom":
        return ("rect", size - depth, a, size, b)
    if side == "left":
        return ("rect", a, 0, b, depth)
    if side == "right":
        return ("rect", a, size - depth, b, size)
    # across the image's bottom/right edge (the tile's own far edge when the tile is not padded)
    r0 = draw(st.integers(max(0, valid_h - size // 2), valid_h - 1))
    c0 = draw(st.integers(max(0, valid_w - size // 2), valid_w - 1))
    r1, c1 = draw(st.integers(valid_h + 1, size + 4)), draw(st.integers(valid_w + 1, size + 4))
    return ("rect", r0, c0, r1, c1)


def class_scores(draw) -> tuple[int, float, dict[str, float]]:
    raw = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=len(CLASS_NAMES), max_size=len(CLASS_NAMES))))
    probs = raw / raw.sum()
    best = int(probs.argmax())
    return best + 1, float(probs[best]), {name: float(p) for name, p in zip(CLASS_NAMES, probs)}


# ---------------------------------------------------------------- images and their tiles

@st.composite
def images(draw) -> Image:
    crs = draw(st.sampled_from(IMAGE_CRSS))
    metres = draw(st.floats(0.05, 0.30))
    lon, lat = draw(st.floats(37.0, 40.5)), draw(st.floats(-7.0, -1.0))  # Tanzania: UTM zone 37 south
    if crs == "EPSG:4326":
        size = metres / METRES_PER_DEGREE
    elif crs == "EPSG:3857":
        size = metres / np.cos(np.radians(lat))  # Web Mercator's scale at that latitude
    else:
        size = metres
    x0, y0 = reproject([Point(lon, lat)], WGS84, crs)[0].coords[0]
    tile = draw(st.integers(64, 128))
    overlap = draw(st.integers(0, 32))
    stride = tile - overlap

    def length(n: int) -> int:  # a side that ``tile_offsets`` cuts into n tiles (the last one often padded)
        return draw(st.integers(stride * (n - 1) + overlap + 1, stride * n + overlap))

    width, height = length(draw(st.integers(2, 4))), length(draw(st.integers(2, 3)))
    return Image(crs, Affine(size, 0, x0, 0, -size, y0), width, height, tile, overlap)


@st.composite
def cases(draw) -> Case:
    image = draw(images())
    specs = tiles(image)
    size = image.tile_size
    full_h, full_w = max(s.row_off for s in specs) + size, max(s.col_off for s in specs) + size
    shared = draw(st.lists(shapes(full_h, full_w), max_size=6))  # padding included
    shared_scores = [class_scores(draw) for _ in shared]
    detections = []
    for spec in specs:
        valid_h, valid_w = min(size, image.height - spec.row_off), min(size, image.width - spec.col_off)
        own = []
        for _ in range(draw(st.integers(0, 3))):
            parts = draw(st.lists(st.one_of(shapes(size, size), edge_shapes(size, valid_h, valid_w)),
                                  min_size=1, max_size=2))
            own.append(Detection(parts, *class_scores(draw)))
        detections.append(own)
    return Case(image, shared, detections, shared_scores)


# ---------------------------------------------------------------- the property

def check_chain(case: Case) -> None:
    params = project_params("inference")  # re-read: the shipped defaults, whatever they are now
    image = case.image
    image_area = image.area
    metric = metric_crs(image.crs, image_area.bounds)  # as tile_images indexes it
    documents = []
    for spec in tiles(image):
        instances = tile_instances(case, spec)
        grid = TileGrid(spec.tile_id, spec.image_id, spec.transform, CRS.from_user_input(image.crs),
                        spec.size, spec.size, metric)
        # the in-image part as the tile index stores it (WGS84) and tile_documents reads it back
        inside = footprint(spec.transform, spec.size, spec.size).intersection(image_area)
        area = reproject(reproject([inside], image.crs, WGS84), WGS84, image.crs)[0]
        documents.append(tile_prediction(grid, instances, params["polygons"], {"test": True}, area))

    buildings = image_buildings(documents, params["merge"])
    table = challenge_table(buildings, image.transform)

    assert buildings.crs == CRS.from_user_input(image.crs)
    assert len(table) == len(buildings)
    geoms = buildings.geometry.values
    assert shapely.is_valid(geoms).all(), [shapely.is_valid_reason(g) for g in geoms if not g.is_valid]
    assert not shapely.is_empty(geoms).any()

    left, bottom, right, top = image_area.bounds
    tol = OUTSIDE * max(right - left, top - bottom)
    for g in geoms:
        x0, y0, x1, y1 = g.bounds
        assert x0 >= left - tol and y0 >= bottom - tol and x1 <= right + tol and y1 <= top + tol, (
            f"building {g.bounds} leaves the image {image_area.bounds} by more than {tol:g}")

    # areas in metres; a part smaller than min_area_m2 should have been dropped in its tile
    min_area = params["polygons"]["min_area_m2"]
    for g in reproject(geoms, image.crs, metric):
        for part in polygonal_parts(g):
            assert part.area >= min_area - AREA_NOISE * max(part.length, 1.0), (
                f"a part of {part.area:.6g} m2 < min_area_m2 {min_area}: {part.wkt[:200]}")

    for column in ("coords_geo", "coords_pixel"):
        for text in table[column]:
            polygon = wkt.loads(text)
            assert polygon.geom_type == "Polygon", text[:200]
            assert polygon.is_valid, (shapely.is_valid_reason(polygon), text[:200])
            assert not polygon.is_empty, f"{column}: {text}"


QUICK = settings(max_examples=25, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@QUICK
@given(cases())
def test_polygon_chain_gives_valid_buildings_and_csv(case):
    check_chain(case)


@pytest.mark.slow
@settings(QUICK, max_examples=300)
@given(cases())
def test_polygon_chain_gives_valid_buildings_and_csv_thorough(case):
    check_chain(case)

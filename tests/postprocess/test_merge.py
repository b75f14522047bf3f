"""Cross-tile merge cases the oracle round trip does not reach.

Buildings are real polygons rasterised into each tile's pixel grid (rasterio), polygonised by the project's
``tile_prediction``, read back by ``detections_frame`` and merged with the shipped merge parameters. Tiles are
100 x 100 px of 0.5 m; distances below are metres from the image's top-left corner (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.features import rasterize
from shapely.geometry import box, mapping, shape

from footprints.classes import CLASS_NAMES
from footprints.geo import TileGrid, tile_id
from footprints.postprocess.geojson import geometries_from_geojson
from footprints.postprocess.merge import (SCORE_COLUMNS, detections_frame, merge_detections,
                                          same_building_pairs)
from footprints.postprocess.merge_blocks import merge_blocks
from footprints.postprocess.tile_polygons import tile_prediction
from tests.conftest import project_params

PIXEL, SIZE, X0, Y0 = 0.5, 100, 532850.0, 9366850.0
COMPLETE = {"complete": 0.9, "incomplete": 0.05, "foundation": 0.05}


@dataclass
class Instance:
    mask: np.ndarray
    class_id: int
    score: float
    class_scores: dict[str, float]


def building(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return box(X0 + x0, Y0 - y1, X0 + x1, Y0 - y0)


def grids(rows: int, cols: int, overlap: int) -> list[TileGrid]:
    step = SIZE - overlap
    return [TileGrid(tile_id("img", r * step, c * step), "img",
                     Affine(PIXEL, 0, X0 + c * step * PIXEL, 0, -PIXEL, Y0 - r * step * PIXEL),
                     CRS.from_epsg(32737), SIZE, SIZE) for r in range(rows) for c in range(cols)]


def documents(buildings, tiles: list[TileGrid], scores=lambda k, grid: COMPLETE) -> list[dict]:
    """Each tile reports every building whose pixels it holds, with ``scores(building, tile)``."""
    docs = []
    for grid in tiles:
        instances = []
        for k, geom in enumerate(buildings):
            mask = rasterize([geom], out_shape=(SIZE, SIZE), transform=grid.transform).astype(bool)
            if mask.any():
                probs = scores(k, grid)
                best = max(probs, key=probs.get)
                instances.append(Instance(mask, CLASS_NAMES.index(best) + 1, probs[best], probs))
        docs.append(tile_prediction(grid, instances, project_params("inference")["polygons"], {"test": True}))
    return docs


def merged(docs: list[dict]):
    detections, tiles = detections_frame(docs)
    return detections, merge_detections(detections, tiles, project_params("inference")["merge"])


def matches(result, geom) -> int:
    """How many merged polygons match ``geom`` (IoU >= 0.9)."""
    geoms = result.geometry.values
    iou = shapely.area(shapely.intersection(geoms, geom)) / shapely.area(shapely.union(geoms, geom))
    return int((iou >= 0.9).sum())


@pytest.mark.parametrize("overlap", [20, 0])
def test_long_building_cut_by_two_tile_edges_is_one(overlap):
    long = building(10, 20, 125, 28)  # crosses both borders between three tiles in a row
    detections, result = merged(documents([long], grids(1, 3, overlap)))

    assert len(detections) == 3
    assert len(result) == 1 and matches(result, long) == 1
    assert result.n_merged.iloc[0] == 3 and len(result.tile_ids.iloc[0]) == 3


def test_fragments_link_transitively():
    long = building(10, 20, 125, 28)
    detections, tiles = detections_frame(documents([long], grids(1, 3, 20)))
    params = project_params("inference")["merge"]
    i, j = same_building_pairs(detections, tiles, params)
    result = merge_detections(detections, tiles, params)

    # the outer fragments never meet (A ~ B and B ~ C only), yet the merge joins all three
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 1), (1, 2)]
    assert len(result) == 1


def test_touching_neighbours_across_a_tile_edge_stay_two():
    left, right = building(30, 20, 45, 32), building(45, 20, 65, 32)  # touch at x = 45, in the overlap strip
    detections, result = merged(documents([left, right], grids(1, 2, 20)))

    assert len(detections) == 4  # each tile sees one whole and a fragment of the other
    assert len(result) == 2
    assert matches(result, left) == 1 and matches(result, right) == 1


@pytest.mark.parametrize("overlap", [20, 0])
def test_building_seen_by_four_tiles_is_one(overlap):
    corner = building(30, 30, 62, 58)  # over the point where four tiles meet
    detections, result = merged(documents([corner], grids(2, 2, overlap)))

    assert len(detections) == 4
    assert len(result) == 1 and matches(result, corner) == 1
    assert result.tile_ids.iloc[0] == sorted(grid.tile_id for grid in grids(2, 2, overlap))


def test_scores_are_averaged_by_area_and_tiles_listed():
    geom = building(20, 20, 48, 30)  # mostly in the left tile, a strip of it in the right one
    tiles = grids(1, 2, 20)
    left_scores = {"complete": 0.7, "incomplete": 0.2, "foundation": 0.05}
    right_scores = {"complete": 0.1, "incomplete": 0.8, "foundation": 0.05}
    detections, result = merged(documents(
        [geom, building(60, 5, 70, 15)], tiles,
        lambda k, grid: left_scores if grid is tiles[0] else right_scores))

    pair = detections[detections.intersects(geom)]
    weights = pair.area.to_numpy()
    expected = (pair[SCORE_COLUMNS].to_numpy() * weights[:, None]).sum(axis=0) / weights.sum()
    row = result[result.intersects(geom)].iloc[0]
    assert len(result) == 2
    assert np.allclose(row[SCORE_COLUMNS].to_numpy(float), expected)
    assert row.class_name == CLASS_NAMES[int(np.argmax(expected))] == "complete"  # the bigger fragment wins
    assert row.score == pytest.approx(expected.max())
    assert row.tile_ids == sorted(pair.tile_id) and row.n_merged == 2
    assert list(result.building_id) == [1, 2]


def test_block_wise_merge_equals_whole_image_merge():
    rng = np.random.default_rng(3)
    tiles = grids(4, 4, 20)
    corners = rng.uniform(2, 135, (60, 2))  # the 4 x 4 tiles cover 0-170 m
    sizes = rng.uniform(4, 30, (60, 2))
    candidates = [building(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, sizes)]
    buildings = []
    for geom in candidates:  # distinct buildings do not overlap
        if all(geom.distance(other) > 2 for other in buildings):
            buildings.append(geom)
    detections, tiles_info = detections_frame(documents(buildings, tiles))
    params = project_params("inference")["merge"]
    whole = merge_detections(detections, tiles_info, params)

    assert len(whole) == len(buildings)
    for block_size in (40.0, 85.0):  # one tile per block (every tile edge is a block seam), then 2 x 2
        blocks = merge_blocks(detections, tiles_info, params, block_size)
        assert list(blocks.columns) == list(whole.columns)
        assert blocks.drop(columns="geometry").equals(whole.drop(columns="geometry"))
        assert shapely.equals_exact(blocks.geometry.values, whole.geometry.values, tolerance=0).all()


def test_empty_detections_give_an_empty_frame():
    detections, result = merged(documents([], grids(1, 2, 20)))

    assert len(detections) == 0 and len(result) == 0
    assert "tile_ids" in result.columns and result.crs == detections.crs


def test_geojson_parsing_matches_shapely_shape():
    ring = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]
    hole = [(2, 2), (4, 2), (4, 4), (2, 2)]
    geometries = [shapely.Polygon(ring, [hole]),
                  shapely.MultiPolygon([shapely.Polygon(ring), box(20, 20, 30, 30)]),
                  box(5, 5, 6, 7), shapely.Point(1, 2)]
    parsed = geometries_from_geojson([mapping(g) for g in geometries])

    expected = [shape(mapping(g)) for g in geometries]
    assert [g.geom_type for g in parsed] == [g.geom_type for g in expected]
    assert shapely.equals_exact(parsed, expected, tolerance=0).all()

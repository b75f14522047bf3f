import math

import geopandas as gpd
import pytest

from footprints.evaluation import border_breakdown, crosses_border, interior_borders, merge_summary

from .helpers import CRS, pred, rect, square, truth

# A 220 x 220 m image in a 2 x 2 grid of 120 m tiles overlapping by 20 m: interior tile edges run along
# x = 100, x = 120, y = 100 and y = 120; the image edge (x or y = 0 or 220) is not one.
TILES = gpd.GeoDataFrame({"tile_id": ["r0c0", "r0c1", "r1c0", "r1c1"], "image_id": ["img"] * 4},
                         geometry=[square(c, r, 120) for r in (0, 100) for c in (0, 100)], crs=CRS)
BUILDINGS = {
    "A": (square(10, 10), False),  # inside one tile, near the image corner
    "B": (square(95, 50), True),  # crosses x = 100
    "C": (rect(110, 10, 118, 20), False),  # in the overlap strip, between two edges, touching neither
    "D": (square(210, 50), False),  # touches only the image edge x = 220
    "E": (square(150, 115), True),  # crosses y = 120
    "G": (square(99, 150), True),  # crosses x = 100 by one metre
}


def test_crossing_ignores_the_image_edge_and_the_overlap_strip():
    t = truth(*[(g, "complete") for g, _ in BUILDINGS.values()])
    expected = [crosses for _, crosses in BUILDINGS.values()]
    assert crosses_border(t.geometry, interior_borders(TILES)).tolist() == expected
    image = square(0, 0, 220)
    assert crosses_border(t.geometry, interior_borders(TILES, image_footprint=image)).tolist() == expected


def test_edge_between_two_neighbouring_images_is_not_interior():
    tiles = gpd.GeoDataFrame({"tile_id": ["a", "b"], "image_id": ["left", "right"]},
                             geometry=[square(0, 0, 100), square(100, 0, 100)], crs=CRS)
    assert interior_borders(tiles).is_empty


def test_breakdown_scores_each_group_with_predictions_following_their_truth():
    t = truth(*[(g, "complete") for g, _ in BUILDINGS.values()])
    p = pred(
        (BUILDINGS["A"][0], "complete", 0.9),        # within: TP
        (BUILDINGS["B"][0], "complete", 0.8),        # crosses: TP
        (BUILDINGS["D"][0], "complete", 0.6),        # within: TP
        (rect(150, 115, 160, 122), "complete", 0.7),  # crosses: TP (IoU 0.7 with E)
        (rect(150, 119, 160, 125), "complete", 0.3),  # crosses: FP, E is taken; the fragment crosses y = 120
        (rect(100.5, 150, 110.5, 160), "complete", 0.5),  # crosses: TP, itself inside a tile but G crosses
        (square(50, 150), "complete", 0.5),          # within: FP
    )                                                # C is missed: within FN
    result = border_breakdown(p, t, TILES)
    crossing, within = result["crosses_border"], result["within_tile"]
    assert {k: crossing[k] for k in ("n_truth", "n_pred", "tp", "fp", "fn")} == {
        "n_truth": 3, "n_pred": 4, "tp": 3, "fp": 1, "fn": 0}
    assert crossing["f1"] == pytest.approx(2 * 0.75 / 1.75)
    assert {k: within[k] for k in ("n_truth", "n_pred", "tp", "fp", "fn")} == {
        "n_truth": 3, "n_pred": 3, "tp": 2, "fp": 1, "fn": 1}
    assert within["f1"] == pytest.approx(2 / 3)


def test_merge_summary_counts_detections_folded_together():
    p = pred(*[(square(20 * i, 0), "complete", 0.9) for i in range(3)])
    p["n_merged"] = [1, 2, 3]
    p["tile_ids"] = [["t0"], ["t0", "t1"], ["t1"]]
    assert merge_summary(p) == {"n_tile_detections": 6, "n_buildings": 3, "n_removed_by_merge": 3,
                                "n_merged_buildings": 2, "n_multi_tile_buildings": 1}
    assert border_breakdown(p, truth(), TILES)["merge"] == merge_summary(p)


def test_empty_frames_give_empty_groups():
    result = border_breakdown(pred(), truth(), TILES)
    for group in ("crosses_border", "within_tile"):
        assert [result[group][k] for k in ("n_truth", "n_pred", "tp")] == [0, 0, 0]
        assert all(math.isnan(result[group][rate]) for rate in ("precision", "recall", "f1"))

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from shapely.geometry import MultiPolygon, Polygon, box

from footprints.evaluation import (
    GalleryItem,
    class_scores_bars,
    loss_curves,
    map_overlay,
    per_class_scores,
    threshold_f1_curve,
    threshold_scores,
    tile_gallery,
)

from .helpers import X0, Y0, pred, square, truth

TRUTH = truth((square(0, 0), "complete"), (square(20, 0), "incomplete"), (square(40, 0), "foundation"))
PRED = pred((square(1, 0), "complete", 0.9), (square(20, 0), "foundation", 0.5),
            (square(60, 0), "complete", 0.3))
RGB = np.random.default_rng(0).random((64, 64, 3))


def check(fig: Figure, n_axes: int, tmp_path) -> None:
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes
    path = tmp_path / "figure.png"
    fig.savefig(path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_loss_curves_has_one_panel_per_loss_term(tmp_path):
    epochs = [0, 1, 2]
    history = pd.DataFrame({"epoch": epochs * 2, "split": ["train"] * 3 + ["val"] * 3,
                            **{term: np.linspace(1, 0.2, 6) for term in
                               ("loss", "loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness")}})
    fig = loss_curves(history, "2 training tiles, 11 building instances")
    check(fig, 5, tmp_path)
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "val"]
    assert "11 building instances" in fig.get_suptitle()


def test_class_scores_bars_draws_three_bars_per_row(tmp_path):
    table = per_class_scores(PRED, TRUTH)
    fig = class_scores_bars(table)
    check(fig, 1, tmp_path)
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * len(table)
    assert ax.get_title() == "3 truth buildings, 3 predicted (validation area)"
    assert ax.get_xticklabels()[0].get_text() == "complete\n1 truth, 2 pred"


def test_class_scores_bars_label_undefined_rates_na(tmp_path):
    table = per_class_scores(PRED.iloc[:0], TRUTH.iloc[[0]])  # no predictions: precision undefined
    fig = class_scores_bars(table)
    check(fig, 1, tmp_path)
    labels = [text.get_text() for text in fig.axes[0].texts]
    assert "n/a" in labels and "nan" not in labels


def _curve(pred, truth):
    curves = threshold_scores(pred, truth, np.linspace(0, 1, 11))
    return threshold_f1_curve(curves, set(pred.class_name) | set(truth.class_name), n_truth=len(truth),
                              n_pred=len(pred))


def test_threshold_f1_curve_has_all_buildings_and_each_class_present(tmp_path):
    fig = _curve(PRED, TRUTH)
    check(fig, 1, tmp_path)
    assert "3 truth buildings, 3 predicted" in fig.axes[0].get_title()
    assert [line.get_label() for line in fig.axes[0].lines] == [
        "all_buildings", "complete", "incomplete", "foundation"]
    only_complete = _curve(PRED.iloc[[0]], TRUTH.iloc[[0]])
    assert [line.get_label() for line in only_complete.axes[0].lines] == ["all_buildings", "complete"]


@pytest.mark.parametrize(("n_items", "n_each"), [(1, 2), (4, 6)])
def test_tile_gallery_draws_one_panel_per_tile(tmp_path, n_items, n_each):
    holed = Polygon(box(30, 30, 50, 50).exterior.coords, [box(35, 35, 40, 40).exterior.coords])
    two_parts = MultiPolygon([box(30, 30, 50, 50), box(55, 55, 60, 60)])
    item = (RGB, [box(5, 5, 20, 20), holed], [(box(6, 5, 21, 20), 0.87), (two_parts, 0.4)])
    empty = (RGB, [], [])
    fig = tile_gallery([item, empty, item, item][:n_items])
    check(fig, n_items, tmp_path)
    # n_each truth buildings and as many detections: two per item, none in the empty one
    assert fig.get_suptitle() == (f"{n_items} validation tiles: {n_each} truth buildings, "
                                  f"{n_each} tile detections")


def test_tile_gallery_shows_only_the_valid_pixels_of_an_edge_tile(tmp_path):
    valid = np.zeros((64, 64), bool)
    valid[:13, :40] = True  # the image ends 13 rows and 40 columns into the tile; the rest is padding
    fig = tile_gallery([GalleryItem(RGB, [box(5, 5, 20, 10)], [], valid, "img_r00000_c00000")])
    check(fig, 1, tmp_path)
    ax = fig.axes[0]
    assert (ax.get_xlim(), ax.get_ylim()) == ((0, 40), (13, 0))
    assert ax.get_title() == "img_r00000_c00000\n1 truth, 0 predicted"


def test_map_overlay_marks_the_validation_area_and_names_the_crs(tmp_path):
    tiles = truth((square(-5, -5, 40), "tile"), (square(30, -5, 40), "tile"))
    fig = map_overlay(RGB, (X0 - 5, X0 + 70, Y0 - 5, Y0 + 35), TRUTH, PRED, tiles, square(30, -5, 40))
    check(fig, 1, tmp_path)
    ax = fig.axes[0]
    assert ax.get_xlim() == (X0 - 5, X0 + 70)
    assert ax.get_xlabel() == "x (metre), EPSG:32737 WGS 84 / UTM zone 37S"
    assert ax.get_title() == "3 truth buildings, 3 predicted (validation area)"
    assert "validation area (scored)" in [t.get_text() for t in ax.get_legend().get_texts()]

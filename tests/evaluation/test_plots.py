import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from shapely.geometry import MultiPolygon, Polygon, box

from footprints.evaluation import (
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
    fig = loss_curves(history)
    check(fig, 5, tmp_path)
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "val"]


def test_class_scores_bars_draws_three_bars_per_row(tmp_path):
    table = per_class_scores(PRED, TRUTH)
    fig = class_scores_bars(table)
    check(fig, 1, tmp_path)
    assert len(fig.axes[0].patches) == 3 * len(table)


def _curve(pred, truth):
    curves = threshold_scores(pred, truth, np.linspace(0, 1, 11))
    return threshold_f1_curve(curves, set(pred.class_name) | set(truth.class_name))


def test_threshold_f1_curve_has_all_buildings_and_each_class_present(tmp_path):
    fig = _curve(PRED, TRUTH)
    check(fig, 1, tmp_path)
    assert [line.get_label() for line in fig.axes[0].lines] == [
        "all_buildings", "complete", "incomplete", "foundation"]
    only_complete = _curve(PRED.iloc[[0]], TRUTH.iloc[[0]])
    assert [line.get_label() for line in only_complete.axes[0].lines] == ["all_buildings", "complete"]


@pytest.mark.parametrize("n_items", [1, 4])
def test_tile_gallery_draws_one_panel_per_tile(tmp_path, n_items):
    holed = Polygon(box(30, 30, 50, 50).exterior.coords, [box(35, 35, 40, 40).exterior.coords])
    two_parts = MultiPolygon([box(30, 30, 50, 50), box(55, 55, 60, 60)])
    item = (RGB, [box(5, 5, 20, 20), holed], [(box(6, 5, 21, 20), 0.87), (two_parts, 0.4)])
    empty = (RGB, [], [])
    check(tile_gallery([item, empty, item, item][:n_items]), n_items, tmp_path)


def test_map_overlay_draws_one_map(tmp_path):
    tiles = truth((square(-5, -5, 40), "tile"), (square(30, -5, 40), "tile"))
    fig = map_overlay(RGB, (X0 - 5, X0 + 70, Y0 - 5, Y0 + 35), TRUTH, PRED, tiles)
    check(fig, 1, tmp_path)
    assert fig.axes[0].get_xlim() == (X0 - 5, X0 + 70)

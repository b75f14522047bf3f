import math

import pytest
from shapely.geometry import MultiPolygon

from footprints.evaluation import match, per_class_scores, scores, threshold_scores

from .helpers import pred, square, truth


def test_perfect_prediction_scores_one_everywhere():
    shapes = [(square(0, 0), "complete"), (square(20, 0), "incomplete"), (square(40, 0), "foundation")]
    table = per_class_scores(pred(*[(g, c, 0.9) for g, c in shapes]), truth(*shapes))
    assert list(table.index) == ["complete", "incomplete", "foundation", "all_buildings", "mean_over_classes"]
    assert (table[["precision", "recall", "f1"]] == 1.0).all().all()
    assert table.loc["all_buildings", ["tp", "fp", "fn"]].tolist() == [3, 0, 0]


def test_square_shifted_by_half_has_iou_one_third():
    p, t = pred((square(5, 0), "complete", 0.9)), truth((square(0, 0), "complete"))
    assert match(p, t, iou_threshold=0.3)["iou"].tolist() == pytest.approx([50 / 150])
    assert scores(p, t, 0.5) == {"n_truth": 1, "n_pred": 1, "tp": 0, "fp": 1, "fn": 1,
                                 "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert scores(p, t, 0.3)["f1"] == 1.0


def test_duplicate_is_a_false_positive_and_higher_score_wins():
    # the better-fitting duplicate loses: greedy matching goes by score, not IoU
    p = pred((square(0, 0), "complete", 0.6), (square(1, 0), "complete", 0.9))
    t = truth((square(0, 0), "complete"))
    pairs = match(p, t)
    assert pairs["pred_index"].tolist() == [1]
    assert pairs["iou"].tolist() == pytest.approx([90 / 110])
    assert {k: scores(p, t)[k] for k in ("tp", "fp", "fn")} == {"tp": 1, "fp": 1, "fn": 0}


def test_high_score_prediction_takes_its_best_iou_truth_first():
    t = truth((square(0, 0), "complete"), (square(3, 0), "complete"))
    # square(2, 0): IoU 80/120 with truth 0, 90/110 with truth 1; square(4, 0): 60/140 and 90/110
    greedy_loses = pred((square(2, 0), "complete", 0.9), (square(4, 0), "complete", 0.8))
    pairs = match(greedy_loses, t)
    assert list(zip(pairs["pred_index"], pairs["truth_index"], strict=True)) == [(0, 1)]
    assert scores(greedy_loses, t)["tp"] == 1

    order_swapped = pred((square(2, 0), "complete", 0.8), (square(4, 0), "complete", 0.9))
    pairs = match(order_swapped, t)
    assert list(zip(pairs["pred_index"], pairs["truth_index"], strict=True)) == [(1, 1), (0, 0)]
    assert scores(order_swapped, t)["f1"] == 1.0


def test_right_shape_wrong_class_is_fp_and_fn_but_tp_for_all_buildings():
    table = per_class_scores(pred((square(0, 0), "incomplete", 0.9)), truth((square(0, 0), "complete")))
    assert table.loc["complete", ["tp", "fp", "fn"]].tolist() == [0, 0, 1]
    assert table.loc["incomplete", ["tp", "fp", "fn"]].tolist() == [0, 1, 0]
    assert table.loc["all_buildings", ["tp", "fp", "fn", "f1"]].tolist() == [1, 0, 0, 1.0]
    # foundation occurs nowhere: no rate; complete has no prediction (P n/a, R=0), incomplete no truth
    # (P=0, R n/a), so each mean runs over the classes where that rate exists
    assert table.loc["foundation", ["precision", "recall", "f1"]].isna().all()
    assert table.loc["complete", ["precision", "recall", "f1"]].tolist()[1:] == [0.0, 0.0]
    assert math.isnan(table.loc["complete", "precision"])
    assert table.loc["mean_over_classes", ["precision", "recall", "f1"]].tolist() == [0.0, 0.0, 0.0]
    assert table.loc["mean_over_classes", ["tp", "fp", "fn"]].isna().all()


NAN = math.nan


@pytest.mark.parametrize(("n_pred", "n_truth", "expected"), [
    (0, 0, (NAN, NAN, NAN)),  # nothing to find and nothing found: undefined, not perfect
    (0, 2, (NAN, 0.0, 0.0)),  # no predictions: precision undefined, every building missed
    (2, 0, (0.0, NAN, 0.0)),
])
def test_empty_sides_leave_rates_undefined(n_pred, n_truth, expected):
    p = pred(*[(square(20 * i, 0), "complete", 0.9) for i in range(n_pred)])
    t = truth(*[(square(20 * i, 50), "complete") for i in range(n_truth)])
    result = scores(p, t)
    assert [result[k] for k in ("precision", "recall", "f1")] == pytest.approx(expected, nan_ok=True)
    assert (result["fp"], result["fn"]) == (n_pred, n_truth)
    assert per_class_scores(p, t).loc["mean_over_classes", "f1"] == pytest.approx(expected[2], nan_ok=True)


def test_multipolygons_are_matched_by_their_total_area():
    two_parts = MultiPolygon([square(0, 0), square(50, 0)])
    t = truth((two_parts, "complete"))
    assert match(pred((two_parts, "complete", 0.9)), t)["iou"].tolist() == pytest.approx([1.0])
    one_part = pred((square(0, 0), "complete", 0.9))
    assert match(one_part, t, 0.45)["iou"].tolist() == pytest.approx([0.5])
    assert match(one_part, t, 0.55).empty


def test_threshold_scores_drop_low_score_predictions_without_rematching():
    p = pred((square(0, 0), "complete", 0.9), (square(20, 0), "complete", 0.4))
    t = truth((square(0, 0), "complete"), (square(20, 0), "complete"))
    curve = threshold_scores(p, t, [0.0, 0.5, 0.95]).set_index(["class_name", "threshold"])
    assert curve.loc[("all_buildings", 0.0), "f1"] == 1.0
    assert curve.loc[("complete", 0.5), ["tp", "precision", "recall"]].tolist() == [1, 1.0, 0.5]
    above_all = curve.loc[("complete", 0.95)]
    assert above_all[["n_pred", "recall", "f1"]].tolist() == [0, 0.0, 0.0]
    assert math.isnan(above_all["precision"])
    assert math.isclose(curve.loc[("complete", 0.5), "f1"], 2 / 3)

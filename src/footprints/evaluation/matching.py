"""The Open AI Tanzania / SpaceNet building metric: one-to-one greedy polygon matching at an IoU threshold.

Predictions are taken in descending score order; each one claims the still unmatched ground-truth polygon
it overlaps most, if that IoU reaches the threshold. This is how the challenges scored submissions, so our
numbers stay comparable with theirs, and it makes a duplicate detection of one building a false positive.

0/0 is undefined and stays so (NaN, shown as ``n/a``), fixed here and used everywhere: precision is NaN
with no predictions, recall is NaN with no ground truth, and F1 = 2 tp / (n_pred + n_truth) is NaN only
when both are empty. A class absent from truth and predictions therefore says nothing (not "perfect"),
while buildings but no predictions, or predictions but no buildings, score F1 = 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from footprints.classes import CLASS_NAMES

ALL_BUILDINGS = "all_buildings"
MEAN_OVER_CLASSES = "mean_over_classes"
COUNT_COLUMNS = ["n_truth", "n_pred", "tp", "fp", "fn"]
RATE_COLUMNS = ["precision", "recall", "f1"]


def _iou_pairs(pred_geoms: np.ndarray, truth_geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions of every intersecting (prediction, truth) pair and its IoU.

    The STRtree keeps this near-linear: only pairs whose polygons touch are ever intersected.
    """
    pred_geoms, truth_geoms = np.asarray(pred_geoms, dtype=object), np.asarray(truth_geoms, dtype=object)
    pred_pos, truth_pos = shapely.STRtree(truth_geoms).query(pred_geoms, predicate="intersects")
    a, b = pred_geoms[pred_pos], truth_geoms[truth_pos]
    inter, union = shapely.area(shapely.intersection(a, b)), shapely.area(shapely.union(a, b))
    iou = np.divide(inter, union, out=np.zeros(len(inter)), where=union > 0)
    return pred_pos, truth_pos, iou


def match(pred: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, iou_threshold: float = 0.5) -> pd.DataFrame:
    """One-to-one greedy matches as rows (pred_index, truth_index, iou) of index labels, in matching order.

    Ties in score keep the predictions' row order; ties in IoU go to the earlier truth row.
    """
    pred_pos, truth_pos, iou = _iou_pairs(pred.geometry.values, truth.geometry.values)
    keep = iou >= iou_threshold
    pred_pos, truth_pos, iou = pred_pos[keep], truth_pos[keep], iou[keep]
    rank = pred["score"].rank(method="first", ascending=False).to_numpy()
    taken_pred, taken_truth, rows = set(), set(), []
    for i in np.lexsort((-iou, rank[pred_pos])):
        p, t = pred_pos[i], truth_pos[i]
        if p not in taken_pred and t not in taken_truth:
            taken_pred.add(p)
            taken_truth.add(t)
            rows.append(i)
    return pd.DataFrame({"pred_index": pred.index[pred_pos[rows]],
                         "truth_index": truth.index[truth_pos[rows]], "iou": iou[rows]})


def from_counts(tp: int, n_pred: int, n_truth: int) -> dict:
    """Counts and rates, NaN where a rate is 0/0 (see the module docstring)."""
    precision = tp / n_pred if n_pred else math.nan
    recall = tp / n_truth if n_truth else math.nan
    # the harmonic mean of precision and recall where both exist; 0 when only one side is empty
    f1 = 2 * tp / (n_pred + n_truth) if n_pred + n_truth else math.nan
    return {"n_truth": n_truth, "n_pred": n_pred, "tp": tp, "fp": n_pred - tp, "fn": n_truth - tp,
            "precision": precision, "recall": recall, "f1": f1}


def scores(pred: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, iou_threshold: float = 0.5) -> dict:
    """Class-agnostic tp, fp, fn, precision, recall and F1 of the greedy matching."""
    return from_counts(len(match(pred, truth, iou_threshold)), len(pred), len(truth))


def per_class_scores(pred: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, iou_threshold: float = 0.5,
                     classes: Sequence[str] = CLASS_NAMES) -> pd.DataFrame:
    """One row per class, one for all buildings (classes ignored) and one mean over classes.

    A class row matches only predictions of that class to truth of that class, so a right shape with the
    wrong class is a false positive of the predicted class and a false negative of the true one.
    ``mean_over_classes`` averages each rate over the classes where it is defined (a class absent from
    truth and predictions has none: it says nothing about the model); its counts are left missing because
    a mean of counts means nothing.
    """
    return _score_table({name: scores(p, t, iou_threshold) for name, p, t in _groups(pred, truth, classes)},
                        classes)


def combine_scores(tables: Sequence[pd.DataFrame], classes: Sequence[str] = CLASS_NAMES) -> pd.DataFrame:
    """``per_class_scores`` of several images as one table: counts summed, rates recomputed from them.

    Each image is matched in its own metric CRS; images never share a building, so summing counts is
    exactly what one matching over all images would give.
    """
    counts = sum(t.drop(index=MEAN_OVER_CLASSES)[COUNT_COLUMNS].astype(int) for t in tables)
    return _score_table({name: from_counts(int(r.tp), int(r.n_pred), int(r.n_truth))
                         for name, r in counts.iterrows()}, classes)


def combine_threshold_scores(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``threshold_scores`` of several images as one (counts summed per threshold and class)."""
    counts = pd.concat(frames).groupby(["threshold", "class_name"], sort=False)[COUNT_COLUMNS].sum()
    rows = [{"threshold": t, "class_name": c, **from_counts(int(r.tp), int(r.n_pred), int(r.n_truth))}
            for (t, c), r in counts.iterrows()]
    return pd.DataFrame(rows, columns=["threshold", "class_name", *COUNT_COLUMNS, *RATE_COLUMNS])


def _score_table(rows: dict[str, dict], classes: Sequence[str]) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(rows, orient="index")[COUNT_COLUMNS + RATE_COLUMNS].astype(
        dict.fromkeys(COUNT_COLUMNS, "Int64"))
    table.loc[MEAN_OVER_CLASSES] = {**dict.fromkeys(COUNT_COLUMNS, pd.NA),
                                    **table.loc[list(classes), RATE_COLUMNS].mean()}
    table.index.name = "class_name"
    return table


def threshold_scores(pred: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, thresholds: Sequence[float],
                     iou_threshold: float = 0.5, classes: Sequence[str] = CLASS_NAMES) -> pd.DataFrame:
    """Precision, recall and F1 for each score threshold, per class and for all buildings (long format).

    Matching runs once per group: greedy matching visits predictions by descending score, so dropping
    those below a threshold leaves the matches of the rest unchanged.
    """
    thresholds = np.asarray(thresholds, dtype=float)
    frames = []
    for name, p, t in _groups(pred, truth, classes):
        matched = p.loc[match(p, t, iou_threshold)["pred_index"], "score"].to_numpy()
        tp = (matched[None, :] >= thresholds[:, None]).sum(axis=1)
        n_pred = (p["score"].to_numpy()[None, :] >= thresholds[:, None]).sum(axis=1)
        rows = [from_counts(int(a), int(b), len(t)) for a, b in zip(tp, n_pred, strict=True)]
        frames.append(pd.DataFrame(rows).assign(threshold=thresholds, class_name=name))
    return pd.concat(frames, ignore_index=True)[["threshold", "class_name", *COUNT_COLUMNS, *RATE_COLUMNS]]


def _groups(pred: gpd.GeoDataFrame, truth: gpd.GeoDataFrame,
            classes: Sequence[str]) -> Iterator[tuple[str, gpd.GeoDataFrame, gpd.GeoDataFrame]]:
    """(name, predictions, truth) per class, then all buildings."""
    for name in classes:
        yield name, pred[pred["class_name"] == name], truth[truth["class_name"] == name]
    yield ALL_BUILDINGS, pred, truth

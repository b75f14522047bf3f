"""Figures for the evaluation report; each function returns a Figure and writes nothing (Kedro saves them).

Figures are built from ``matplotlib.figure.Figure`` rather than pyplot: no GUI backend or global figure
registry is involved (saving to PNG renders with Agg), so a pipeline run can make many without leaking.
Outlines: ground truth green, predictions magenta, tile edges white dashed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from shapely.geometry.base import BaseGeometry

from footprints.evaluation.matching import ALL_BUILDINGS, RATE_COLUMNS
from footprints.classes import CLASS_NAMES

TRUTH_COLOR, PRED_COLOR, TILE_COLOR = "lime", "magenta", "white"
GalleryItem = tuple[np.ndarray, Sequence[BaseGeometry], Sequence[tuple[BaseGeometry, float]]]


def loss_curves(history: pd.DataFrame) -> Figure:
    """One panel per loss term with train and val lines, to spot over- and underfitting per head."""
    terms = [column for column in history.columns if column not in ("epoch", "split")]
    fig, axes = _grid(len(terms), panel_size=(4.0, 3.0))
    for ax, term in zip(axes, terms, strict=True):
        for split, rows in history.sort_values("epoch").groupby("split"):
            ax.plot(rows["epoch"], rows[term], marker="o", markersize=3, label=split)
        ax.set(title=term, xlabel="epoch", ylabel="loss")
        ax.legend()
    return fig


def class_scores_bars(per_class: pd.DataFrame) -> Figure:
    """Precision, recall and F1 side by side for each row of ``per_class_scores``."""
    fig = Figure(figsize=(2.0 + 1.5 * len(per_class), 3.5), layout="constrained")
    ax = fig.subplots()
    x, width = np.arange(len(per_class)), 0.8 / len(RATE_COLUMNS)
    for i, rate in enumerate(RATE_COLUMNS):
        bars = ax.bar(x + (i - 1) * width, per_class[rate].astype(float), width, label=rate)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, per_class.index, rotation=15)
    ax.set(ylim=(0, 1.1), ylabel="score")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncols=len(RATE_COLUMNS))
    return fig


def threshold_f1_curve(curves: pd.DataFrame, present: set[str], iou_threshold: float = 0.5) -> Figure:
    """F1 against the score threshold, for all buildings and each class, to choose the threshold.

    ``curves`` is ``threshold_scores`` output (or several images' combined). Classes absent from both truth
    and predictions (not in ``present``) are left out: their F1 is 1 by convention, a flat line that would
    only mislead.
    """
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for name in (ALL_BUILDINGS, *(c for c in CLASS_NAMES if c in present)):
        rows = curves[curves["class_name"] == name]
        ax.plot(rows["threshold"], rows["f1"], label=name,
                **({"color": "black", "linewidth": 2.5} if name == ALL_BUILDINGS else {}))
    ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="score threshold", ylabel="F1",
           title=f"F1 vs score threshold (IoU >= {iou_threshold:g})")
    ax.legend()
    return fig


def tile_gallery(items: Sequence[GalleryItem], ncols: int = 3) -> Figure:
    """Tiles with truth and predicted outlines in pixel coordinates, each prediction labelled by score.

    An item is (RGB H x W x 3 floats in [0, 1], truth polygons, [(predicted polygon, score), ...]).
    Pixel coordinates follow rasterio: (0, 0) is the top-left corner of the top-left pixel.
    """
    fig, axes = _grid(len(items), panel_size=(4.0, 4.0), ncols=ncols)
    for ax, (rgb, truth, pred) in zip(axes, items, strict=True):
        height, width = rgb.shape[:2]
        ax.imshow(rgb, extent=(0, width, height, 0))
        _outlines(ax, truth, TRUTH_COLOR)
        _outlines(ax, [geom for geom, _ in pred], PRED_COLOR)
        for geom, score in pred:
            point = geom.representative_point()
            ax.annotate(f"{score:.2f}", (point.x, point.y), color=PRED_COLOR, fontsize=7, ha="center")
        ax.set(xlim=(0, width), ylim=(height, 0))
        ax.set_axis_off()
    fig.legend(handles=_legend_handles(), loc="outside lower center", ncols=2)
    return fig


def map_overlay(rgb: np.ndarray, extent: tuple[float, float, float, float], truth: gpd.GeoDataFrame,
                pred: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame) -> Figure:
    """One raw image in map coordinates with truth, predictions and the tile grid, to see merge seams.

    ``extent`` is (left, right, bottom, top) in the CRS of the three GeoDataFrames.
    """
    fig = Figure(figsize=(8.0, 8.0), layout="constrained")
    ax = fig.subplots()
    ax.imshow(rgb, extent=extent)
    _outlines(ax, tiles.geometry, TILE_COLOR, linestyles="--", linewidths=0.6)
    _outlines(ax, truth.geometry, TRUTH_COLOR)
    _outlines(ax, pred.geometry, PRED_COLOR)
    ax.set(xlim=extent[:2], ylim=extent[2:], xlabel="x (map units)", ylabel="y (map units)")
    tile_handle = Line2D([], [], color=TILE_COLOR, linestyle="--", label="tile edge")
    ax.legend(handles=[*_legend_handles(), tile_handle], loc="upper right", facecolor="0.6")
    return fig


def _grid(n: int, panel_size: tuple[float, float], ncols: int = 3) -> tuple[Figure, list[Axes]]:
    """A figure with exactly ``n`` panels in rows of at most ``ncols`` (unused grid cells removed)."""
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def _outlines(ax: Axes, geoms: Iterable[BaseGeometry], color: str, **style: object) -> None:
    """Every ring (exteriors and holes) of polygons or multipolygons, drawn as one line collection."""
    rings = shapely.get_rings(shapely.get_parts(np.array(list(geoms), dtype=object)))
    ax.add_collection(LineCollection([shapely.get_coordinates(ring) for ring in rings], colors=color,
                                     **{"linewidths": 1.2, **style}))


def _legend_handles() -> list[Line2D]:
    return [Line2D([], [], color=TRUTH_COLOR, label="ground truth"),
            Line2D([], [], color=PRED_COLOR, label="prediction")]

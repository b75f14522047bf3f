"""Figures for the evaluation report; each function returns a Figure and writes nothing (Kedro saves them).

Figures are built from ``matplotlib.figure.Figure`` rather than pyplot: no GUI backend or global figure
registry is involved (saving to PNG renders with Agg), so a pipeline run can make many without leaking.
Outlines: ground truth green, predictions magenta, tile edges white dashed, the validation area yellow.
Every figure says in its title how many buildings (truth and predictions) it rests on, so a score drawn
from two buildings cannot pass for a result.
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
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from footprints.evaluation.gallery import GalleryItem
from footprints.evaluation.matching import ALL_BUILDINGS, RATE_COLUMNS
from footprints.classes import CLASS_NAMES

TRUTH_COLOR, PRED_COLOR, TILE_COLOR, AREA_COLOR = "lime", "magenta", "white", "yellow"


def loss_curves(history: pd.DataFrame, trained_on: str = "") -> Figure:
    """One panel per loss term with train and val lines, to spot over- and underfitting per head.

    ``trained_on`` says what the curves rest on (e.g. "2 training tiles, 11 building instances").
    """
    terms = [column for column in history.columns if column not in ("epoch", "split")]
    fig, axes = _grid(len(terms), panel_size=(4.0, 3.0))
    if trained_on:
        fig.suptitle(f"Losses by epoch: {trained_on}")
    for ax, term in zip(axes, terms, strict=True):
        for split, rows in history.sort_values("epoch").groupby("split"):
            ax.plot(rows["epoch"], rows[term], marker="o", markersize=3, label=split)
        ax.set(title=term, xlabel="epoch", ylabel="loss")
        ax.legend()
    return fig


def class_scores_bars(per_class: pd.DataFrame) -> Figure:
    """Precision, recall and F1 side by side for each row of ``per_class_scores``, labelled with its counts.

    An undefined rate (no predictions, no truth, or an absent class) gets no bar and the label ``n/a``.
    """
    fig = Figure(figsize=(2.0 + 1.5 * len(per_class), 3.8), layout="constrained")
    ax = fig.subplots()
    x, width = np.arange(len(per_class)), 0.8 / len(RATE_COLUMNS)
    for i, rate in enumerate(RATE_COLUMNS):
        values = per_class[rate].astype(float)
        bars = ax.bar(x + (i - 1) * width, values.fillna(0.0), width, label=rate)
        ax.bar_label(bars, labels=["n/a" if np.isnan(v) else f"{v:.2f}" for v in values], fontsize=7)
    ax.set_xticks(x, [_count_label(name, row) for name, row in per_class.iterrows()], fontsize=8)
    ax.set(ylim=(0, 1.1), ylabel="score")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncols=len(RATE_COLUMNS))
    if ALL_BUILDINGS in per_class.index:
        ax.set_title(_on_buildings(per_class.loc[ALL_BUILDINGS, "n_truth"],
                                   per_class.loc[ALL_BUILDINGS, "n_pred"]), fontsize=9)
    return fig


def _count_label(name: str, row: pd.Series) -> str:
    """A class name with its truth and prediction counts (none for the mean row)."""
    if pd.isna(row.get("n_truth")):
        return str(name)
    return f"{name}\n{int(row['n_truth'])} truth, {int(row['n_pred'])} pred"


def _on_buildings(n_truth: object, n_pred: object) -> str:
    return f"{int(n_truth)} truth buildings, {int(n_pred)} predicted (validation area)"


def threshold_f1_curve(curves: pd.DataFrame, present: set[str], iou_threshold: float = 0.5, n_truth: int = 0,
                       n_pred: int = 0) -> Figure:
    """F1 against the score threshold, for all buildings and each class, to choose the threshold.

    ``curves`` is ``threshold_scores`` output (or several images' combined), over ``n_truth`` truth and
    ``n_pred`` predicted buildings. Classes absent from both truth and predictions (not in ``present``) are
    left out: their F1 is undefined.
    """
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for name in (ALL_BUILDINGS, *(c for c in CLASS_NAMES if c in present)):
        rows = curves[curves["class_name"] == name]
        ax.plot(rows["threshold"], rows["f1"], label=name,
                **({"color": "black", "linewidth": 2.5} if name == ALL_BUILDINGS else {}))
    ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="score threshold", ylabel="F1",
           title=f"F1 vs score threshold (IoU >= {iou_threshold:g})\n{_on_buildings(n_truth, n_pred)}")
    ax.legend()
    return fig


def tile_gallery(items: Sequence[GalleryItem | tuple], ncols: int = 3) -> Figure:
    """Tiles with truth and predicted outlines in pixel coordinates, each prediction labelled by score.

    Items are ``GalleryItem``s (plain 3- to 5-tuples work too). Pixel coordinates follow rasterio: (0, 0) is
    the top-left corner of the top-left pixel. A panel shows only the bounding box of the image's valid
    pixels when ``valid`` is given, so an edge tile is drawn as image, not as nodata padding.
    """
    items = [GalleryItem(*item) for item in items]
    fig, axes = _grid(len(items), panel_size=(4.0, 4.0), ncols=ncols)
    for ax, item in zip(axes, items, strict=True):
        height, width = item.rgb.shape[:2]
        ax.imshow(item.rgb, extent=(0, width, height, 0))
        _outlines(ax, item.truth, TRUTH_COLOR)
        _outlines(ax, [geom for geom, _ in item.pred], PRED_COLOR)
        for geom, score in item.pred:
            point = geom.representative_point()
            ax.annotate(f"{score:.2f}", (point.x, point.y), color=PRED_COLOR, fontsize=7, ha="center")
        left, top, right, bottom = _valid_box(item.valid, width, height)
        ax.set(xlim=(left, right), ylim=(bottom, top))
        ax.set_title(f"{item.title}\n{len(item.truth)} truth, {len(item.pred)} predicted".strip(), fontsize=8)
        ax.set_axis_off()
    n_truth, n_pred = sum(len(i.truth) for i in items), sum(len(i.pred) for i in items)
    fig.suptitle(f"{len(items)} validation tiles: {n_truth} truth buildings, {n_pred} tile detections")
    fig.legend(handles=_legend_handles(), loc="outside lower center", ncols=2)
    return fig


def _valid_box(valid: np.ndarray | None, width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixel bounds of the valid pixels, or the whole tile."""
    if valid is None or not valid.any():
        return 0, 0, width, height
    rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def map_overlay(rgb: np.ndarray, extent: tuple[float, float, float, float], truth: gpd.GeoDataFrame,
                pred: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame,
                validation_area: BaseGeometry | None = None) -> Figure:
    """One raw image in map coordinates with truth, predictions, the tile grid and the validation area.

    ``extent`` is (left, right, bottom, top) in the CRS of the three GeoDataFrames, which the axes name.
    Scores cover only ``validation_area`` (drawn yellow), so it is marked: buildings outside it were
    neither scored nor, usually, predicted.
    """
    fig = Figure(figsize=(8.0, 8.0), layout="constrained")
    ax = fig.subplots()
    ax.imshow(rgb, extent=extent)
    _outlines(ax, tiles.geometry, TILE_COLOR, linestyles="--", linewidths=0.6)
    handles = [*_legend_handles(), Line2D([], [], color=TILE_COLOR, linestyle="--", label="tile edge")]
    if validation_area is not None and not validation_area.is_empty:
        _outlines(ax, [validation_area], AREA_COLOR, linewidths=2.0)
        handles.append(Line2D([], [], color=AREA_COLOR, linewidth=2.0, label="validation area (scored)"))
    _outlines(ax, truth.geometry, TRUTH_COLOR)
    _outlines(ax, pred.geometry, PRED_COLOR)
    x_label, y_label = _axis_labels(tiles.crs)
    ax.set(xlim=extent[:2], ylim=extent[2:], xlabel=x_label, ylabel=y_label,
           title=_on_buildings(len(truth), len(pred)))
    ax.ticklabel_format(useOffset=False, style="plain")  # whole map coordinates, no "+9.366e6" offset
    ax.legend(handles=handles, loc="upper right", facecolor="0.6")
    return fig


def _axis_labels(crs: object) -> tuple[str, str]:
    """Axis labels naming the CRS and its unit, e.g. 'easting (m), EPSG:32737 WGS 84 / UTM zone 37S'."""
    if crs is None:
        return "x (map units, CRS unknown)", "y (map units, CRS unknown)"
    crs = CRS.from_user_input(crs)
    code = crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}"
    name = f"{code} {crs.name}" if crs.name not in code else code
    axes = crs.axis_info[:2] if len(crs.axis_info) >= 2 else []
    if crs.is_geographic:
        return f"longitude (deg), {name}", "latitude (deg)"
    unit = axes[0].unit_name if axes else "map units"
    return f"x ({unit}), {name}", f"y ({unit})"


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

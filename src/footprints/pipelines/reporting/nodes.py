"""Nodes of the reporting pipeline: thin wrappers around ``footprints.evaluation``.

Everything is scored on the validation tiles only (held out from training, no shared pixels), in map
coordinates after the cross-tile merge: the challenge metric sees what a user gets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

from footprints.classes import CLASS_NAMES
from footprints.datasets.masks import InstanceMasks
from footprints.datasets.raster import Raster, RasterSource, stretch
from footprints.datasets.spatial_table import SpatialTable
from footprints.evaluation.border import CROSSES_BORDER, WITHIN_TILE, border_breakdown
from footprints.evaluation.coco import mask_map
from footprints.evaluation.gallery import GalleryItem, gallery_tiles
from footprints.evaluation.matching import (ALL_BUILDINGS, combine_scores, combine_threshold_scores, from_counts,
                                            per_class_scores, threshold_scores)
from footprints.evaluation.report import flat_metrics, markdown_report
from footprints.geo import TileGrid, map_to_pixel, rasterize_instances, reproject
from footprints.postprocess.buildings import building_schema
from footprints.evaluation.provenance import provenance_section
from footprints.model.weights import ModelWeights

log = logging.getLogger(__name__)


class Figure(Protocol):
    """What the plot nodes return: a matplotlib ``Figure`` (``footprints.evaluation.plots`` draws them), named
    by what kedro-datasets' ``MatplotlibWriter`` needs, so that the pipeline discovery of every ``kedro run``
    (which resolves node type hints) does not import matplotlib; the plot nodes import it when they run."""

    def savefig(self, fname: Any, **kwargs: Any) -> None: ...


def _plots():
    """``footprints.evaluation.plots``, imported when a plot is drawn (it imports matplotlib)."""
    from footprints.evaluation import plots

    return plots


EVALUATED_SPLIT = "val"
PLOT_FILES = ["loss_curves.png", "class_scores.png", "threshold_f1.png", "tile_gallery.png", "map_overlay.png"]
THRESHOLDS = tuple(np.linspace(0.0, 1.0, 101))
_EMPTY = gpd.GeoDataFrame({"class_name": pd.Series(dtype="str"), "score": pd.Series(dtype="float64")},
                          geometry=[])  # no image evaluated

# Evaluation frames: image id -> {"truth", "pred", "tiles"}, each image in its own metric CRS (the tile
# index's ``metric_crs``): IoU and areas in metres, and images of different UTM zones never meet.
Frames = dict[str, dict[str, gpd.GeoDataFrame]]


def evaluation_frames(buildings_gpkg: dict[str, Callable[[], gpd.GeoDataFrame]], label_database: SpatialTable,
                      tile_index: gpd.GeoDataFrame, tile_split: pd.DataFrame) -> Frames:
    """Per image: truth and merged predictions clipped to its validation tiles, in the image's metric CRS."""
    tiles = tile_index[tile_index.tile_id.isin(tile_split.tile_id[tile_split.split == EVALUATED_SPLIT])]
    return {image_id: _image_frames(image_tiles.to_crs(image_tiles.metric_crs.iloc[0]), label_database,
                                    buildings_gpkg.get(image_id))
            for image_id, image_tiles in tiles.groupby("image_id", sort=True)}


def _image_frames(tiles: gpd.GeoDataFrame, label_database: SpatialTable,
                  load_pred: Callable[[], gpd.GeoDataFrame] | None) -> dict[str, gpd.GeoDataFrame]:
    area = tiles.geometry.union_all()
    truth = label_database.read(bbox=tuple(tiles.to_crs(label_database.crs).total_bounds)).to_crs(tiles.crs)
    pred = load_pred().to_crs(tiles.crs) if load_pred else building_schema(None, tiles.crs)
    pred = pred.assign(tile_ids=pred.tile_ids.map(lambda v: json.loads(v) if isinstance(v, str) else v))
    return {"truth": _clip(truth, area), "pred": _clip(pred, area), "tiles": tiles}


def _clip(frame: gpd.GeoDataFrame, area) -> gpd.GeoDataFrame:
    if frame.empty:
        return frame.iloc[:0].reset_index(drop=True)
    clipped = frame[frame.intersects(area)].assign(geometry=lambda f: f.geometry.intersection(area))
    return clipped[clipped.area > 0].reset_index(drop=True)


def score_buildings(frames: Frames, params: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """Per-class and all-buildings P/R/F1 at the IoU threshold, and the tile-border breakdown, over all
    evaluated images (each matched in its own metric CRS, counts summed)."""
    iou = params["iou_threshold"]
    tables = [per_class_scores(f["pred"], f["truth"], iou) for f in frames.values()]
    per_class = combine_scores(tables) if tables else per_class_scores(_EMPTY, _EMPTY, iou)
    borders = [border_breakdown(f["pred"], f["truth"], f["tiles"], iou) for f in frames.values()]
    return per_class.reset_index(), _sum_breakdowns(borders)


def _sum_breakdowns(breakdowns: list[dict]) -> dict:
    """Border breakdowns of several images as one: counts summed, rates recomputed."""
    if not breakdowns:
        return {}
    total = {}
    for group in (CROSSES_BORDER, WITHIN_TILE):
        tp, n_pred, n_truth = (sum(b[group][k] for b in breakdowns) for k in ("tp", "n_pred", "n_truth"))
        total[group] = from_counts(tp, n_pred, n_truth)
    total["merge"] = {k: sum(b["merge"][k] for b in breakdowns) for k in breakdowns[0]["merge"]}
    return total


def score_masks(tile_predictions: dict[str, Callable[[], dict]], instance_masks: dict[str, Callable[[],
                InstanceMasks]], tile_index: gpd.GeoDataFrame, tile_split: pd.DataFrame) -> dict[str, float]:
    """COCO mask mAP@[.5:.95] and AP50 per validation tile; predicted polygons rasterised in the tile grid."""
    val = set(tile_split.tile_id[tile_split.split == EVALUATED_SPLIT]) & set(tile_predictions)
    rows = tile_index[tile_index.tile_id.isin(val)]
    return mask_map(_mask_pair(tile_predictions[row.tile_id](), instance_masks[row.tile_id](),
                               TileGrid.from_index_row(row)) for row in rows.itertuples())


def _mask_pair(doc: dict[str, Any], truth: InstanceMasks, grid: TileGrid) -> tuple[dict, dict]:
    geoms = [shape(inst["geometry"]) for inst in doc["instances"]]
    pred = {"masks": rasterize_instances(geoms, grid.transform, (grid.height, grid.width)).astype(bool),
            "scores": np.array([inst["score"] for inst in doc["instances"]], dtype=np.float32),
            "labels": np.array([CLASS_NAMES.index(inst["class"]) + 1 for inst in doc["instances"]], dtype=np.int64)}
    return pred, {"masks": truth.masks.astype(bool), "labels": truth.class_ids}


def plot_loss_curves(training_history: pd.DataFrame, labelled_tile_index: gpd.GeoDataFrame,
                     tile_split: pd.DataFrame) -> Figure:
    """Train and validation curves of every Mask R-CNN loss term, titled with what training saw."""
    terms = [c for c in training_history.columns if c.startswith("loss")]
    train = training_history[["epoch", *terms]].assign(split="train")
    val_terms = {f"val_{t}": t for t in terms if f"val_{t}" in training_history}
    val = training_history[["epoch", *val_terms]].rename(columns=val_terms).assign(split="val")
    train_tiles = labelled_tile_index[labelled_tile_index.tile_id.isin(
        tile_split.tile_id[tile_split.split == "train"])]
    trained_on = (f"{len(train_tiles)} training tiles, {int(train_tiles.n_instances.sum())} building instances "
                  "(a building in a tile overlap counts in each tile)")
    return _plots().loss_curves(pd.concat([train, val], ignore_index=True), trained_on)


def plot_class_scores(building_scores: pd.DataFrame) -> Figure:
    return _plots().class_scores_bars(building_scores.set_index("class_name"))


def plot_threshold_f1(frames: Frames, params: dict[str, Any]) -> Figure:
    iou = params["iou_threshold"]
    curves = [threshold_scores(f["pred"], f["truth"], THRESHOLDS, iou) for f in frames.values()]
    present = {c for f in frames.values() for c in (*f["pred"].class_name, *f["truth"].class_name)}
    return _plots().threshold_f1_curve(combine_threshold_scores(curves) if curves else
                                       threshold_scores(_EMPTY, _EMPTY, THRESHOLDS, iou), present, iou,
                                       n_truth=sum(len(f["truth"]) for f in frames.values()),
                                       n_pred=sum(len(f["pred"]) for f in frames.values()))


def plot_tile_gallery(tiles: dict[str, Callable[[], Raster]], tile_predictions: dict[str, Callable[[], dict]],
                      frames: Frames, params: dict[str, Any]) -> Figure:
    """The mostly-image validation tiles with the most truth buildings (over all evaluated images), truth and
    predictions drawn over the pixels."""
    picks = [(row, frame["truth"]) for frame in frames.values()
             for row in gallery_tiles(frame["tiles"], frame["truth"], params["gallery_tiles"],
                                      params["gallery_min_valid_fraction"]).itertuples()]
    picks = sorted(picks, key=lambda p: (p[0].valid_fraction < params["gallery_min_valid_fraction"],
                                         -p[0].n_truth, p[0].tile_id))[:params["gallery_tiles"]]
    return _plots().tile_gallery([_gallery_item(tiles[row.tile_id](), tile_predictions.get(row.tile_id),
                                                truth[truth.intersects(row.geometry)], TileGrid.from_index_row(row))
                                  for row, truth in picks])


def _gallery_item(raster: Raster, load_doc: Callable[[], dict] | None, truth: gpd.GeoDataFrame,
                  grid: TileGrid) -> GalleryItem:
    """One panel: the tile's pixels (valid ones marked), the truth touching it and its own detections."""
    doc = load_doc() if load_doc else {"instances": []}
    truth_geoms = reproject(truth.geometry.values, truth.crs, grid.crs)
    pred = [(map_to_pixel(shape(i["geometry"]), grid.transform), i["score"]) for i in doc["instances"]]
    bands = raster.array[:3] if raster.array.shape[0] >= 3 else raster.array[:1].repeat(3, axis=0)
    valid = None if raster.mask is None else raster.mask > 0
    return GalleryItem(stretch(bands, raster.mask), [map_to_pixel(g, grid.transform) for g in truth_geoms], pred,
                       valid, grid.tile_id)


def plot_map_overlay(raw_images: dict[str, Callable[[], RasterSource]], frames: Frames,
                     tile_index: gpd.GeoDataFrame) -> Figure:
    """The first evaluated raw image with truth, merged predictions, the tile grid and the validation area,
    in the image's CRS."""
    image_id = min(frames) if frames else min(raw_images)
    source = raw_images[image_id]()
    crs = source.profile["crs"]
    raster = source.read_overview(max_size=1024)
    left, bottom, right, top = raster.profile["bounds"]
    frame = frames.get(image_id, {"truth": _EMPTY, "pred": _EMPTY, "tiles": _EMPTY})
    to_image = {k: frame[k].to_crs(crs) if frame[k].crs else frame[k] for k in ("truth", "pred")}
    tiles = tile_index[tile_index.image_id == image_id].to_crs(crs)
    area = frame["tiles"].to_crs(crs).geometry.union_all() if len(frame["tiles"]) else None
    bands = raster.array[:3] if raster.array.shape[0] >= 3 else raster.array[:1].repeat(3, axis=0)
    return _plots().map_overlay(stretch(bands), (left, right, bottom, top), to_image["truth"], to_image["pred"],
                                tiles, area)


def model_provenance(model_weights: ModelWeights) -> dict[str, Any] | None:
    """What the weights that predicted learnt from (recorded by training in the weights file), or None."""
    return (model_weights.config or {}).get("training")


def write_report(mlflow_run: dict[str, Any], building_scores: pd.DataFrame, border: dict,
                 mask_ap: dict[str, float | None], provenance: dict[str, Any] | None, frames: Frames,
                 params: dict[str, Any]) -> tuple[str, dict[str, list[dict[str, float]]]]:
    """The Markdown report and the flat metrics MLflow logs next to the training metrics.

    A "Training provenance" section follows the title: where the weights started, what they learnt from and
    which images the scores cover, so a reader judges the numbers before reading them. MLflow metrics must be
    numbers, so undefined ones (n/a) are left out of the run; the report lists them.
    """
    building_scores = building_scores.set_index("class_name")
    metrics = flat_metrics(building_scores, border, mask_ap)
    unlogged = [name for name, value in metrics.items() if value is None]
    report = markdown_report(mlflow_run["run_id"] or "(no MLflow run)", building_scores, border, mask_ap,
                             [f"plots/{name}" for name in PLOT_FILES], params, unlogged_metrics=unlogged)
    section = provenance_section(provenance, sorted(frames), sum(len(f["tiles"]) for f in frames.values()),
                                 sum(len(f["truth"]) for f in frames.values()))
    title, rest = report.split("\n\n", 1)
    report = f"{title}\n\n{section}\n\n{rest}"
    everything = building_scores.loc[ALL_BUILDINGS]
    log.info("held-out buildings of %s: F1 %s at IoU %.2f (precision %s, recall %s), mask AP %s; report in "
             "data/08_reporting", ", ".join(sorted(frames)) or "no image", _score(everything["f1"]),
             params["iou_threshold"], _score(everything["precision"]), _score(everything["recall"]),
             _score(mask_ap.get("map")))
    return report, {k: [{"step": 0, "value": v}] for k, v in metrics.items() if v is not None}


def _score(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"

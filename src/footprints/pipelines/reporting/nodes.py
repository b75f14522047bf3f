"""Nodes of the reporting pipeline: thin wrappers around ``footprints.evaluation``.

Everything is scored on the validation tiles only (held out from training, no shared pixels), in map
coordinates after the cross-tile merge: the challenge metric sees what a user gets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from shapely.geometry import shape

from footprints.classes import CLASS_NAMES
from footprints.datasets.masks import InstanceMasks
from footprints.datasets.raster import Raster, RasterSource, stretch
from footprints.datasets.spatial_table import SpatialTable
from footprints.evaluation import (GalleryItem, border_breakdown, class_scores_bars, flat_metrics, gallery_tiles,
                                   loss_curves, map_overlay, markdown_report, mask_map, per_class_scores,
                                   threshold_f1_curve, tile_gallery)
from footprints.geo import TileGrid, map_to_pixel, rasterize_instances, reproject

EVALUATED_SPLIT = "val"
PLOT_FILES = ["loss_curves.png", "class_scores.png", "threshold_f1.png", "tile_gallery.png", "map_overlay.png"]


def evaluation_frames(buildings_gpkg: dict[str, Callable[[], gpd.GeoDataFrame]], label_database: SpatialTable,
                      tile_index: gpd.GeoDataFrame, tile_split: pd.DataFrame) -> dict[str, gpd.GeoDataFrame]:
    """Truth and merged predictions clipped to the validation area, in the working CRS, and its tiles."""
    tiles = tile_index[tile_index.tile_id.isin(tile_split.tile_id[tile_split.split == EVALUATED_SPLIT])]
    area = tiles.geometry.union_all() if len(tiles) else None
    truth = label_database.read(bbox=tuple(tiles.total_bounds)) if len(tiles) else tile_index.iloc[:0]
    preds = [load().to_crs(tile_index.crs).assign(image_id=image_id)
             for image_id, load in sorted(buildings_gpkg.items()) if image_id in set(tiles.image_id)]
    preds = [p.assign(tile_ids=p.tile_ids.map(json.loads)) for p in preds]  # stored as JSON text in GPKG
    pred = pd.concat(preds, ignore_index=True) if preds else gpd.GeoDataFrame(geometry=[], crs=tile_index.crs)
    return {"truth": _clip(truth, area), "pred": _clip(gpd.GeoDataFrame(pred, crs=tile_index.crs), area),
            "tiles": tiles}


def _clip(frame: gpd.GeoDataFrame, area) -> gpd.GeoDataFrame:
    if area is None or frame.empty:
        return frame.iloc[:0].reset_index(drop=True)
    clipped = frame[frame.intersects(area)].assign(geometry=lambda f: f.geometry.intersection(area))
    return clipped[clipped.area > 0].reset_index(drop=True)


def score_buildings(frames: dict[str, gpd.GeoDataFrame], params: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """Per-class and all-buildings P/R/F1 at the IoU threshold, and the tile-border breakdown."""
    truth, pred, tiles = frames["truth"], frames["pred"], frames["tiles"]
    per_class = per_class_scores(pred, truth, params["iou_threshold"]).reset_index()
    border = border_breakdown(pred, truth, tiles, params["iou_threshold"]) if len(tiles) else {}
    return per_class, border


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
    return loss_curves(pd.concat([train, val], ignore_index=True), trained_on)


def plot_class_scores(building_scores: pd.DataFrame) -> Figure:
    return class_scores_bars(building_scores.set_index("class_name"))


def plot_threshold_f1(frames: dict[str, gpd.GeoDataFrame], params: dict[str, Any]) -> Figure:
    return threshold_f1_curve(frames["pred"], frames["truth"], params["iou_threshold"])


def plot_tile_gallery(tiles: dict[str, Callable[[], Raster]], tile_predictions: dict[str, Callable[[], dict]],
                      frames: dict[str, gpd.GeoDataFrame], tile_index: gpd.GeoDataFrame,
                      params: dict[str, Any]) -> Figure:
    """The mostly-image validation tiles with the most truth buildings, truth and predictions over the pixels."""
    truth = frames["truth"]
    rows = gallery_tiles(frames["tiles"], truth, params["gallery_tiles"], params["gallery_min_valid_fraction"])
    return tile_gallery([_gallery_item(tiles[r.tile_id](), tile_predictions.get(r.tile_id),
                                       truth[truth.intersects(r.geometry)], TileGrid.from_index_row(r),
                                       tile_index.crs) for r in rows.itertuples()])


def _gallery_item(raster: Raster, load_doc: Callable[[], dict] | None, truth: gpd.GeoDataFrame, grid: TileGrid,
                  working_crs) -> GalleryItem:
    """One panel: the tile's pixels (valid ones marked), the truth touching it and its own detections."""
    doc = load_doc() if load_doc else {"instances": []}
    truth_geoms = reproject(truth.geometry.values, working_crs, grid.crs)
    pred = [(map_to_pixel(shape(i["geometry"]), grid.transform), i["score"]) for i in doc["instances"]]
    bands = raster.array[:3] if raster.array.shape[0] >= 3 else raster.array[:1].repeat(3, axis=0)
    valid = None if raster.mask is None else raster.mask > 0
    return GalleryItem(stretch(bands, raster.mask), [map_to_pixel(g, grid.transform) for g in truth_geoms], pred,
                       valid, grid.tile_id)


def plot_map_overlay(raw_images: dict[str, Callable[[], RasterSource]], frames: dict[str, gpd.GeoDataFrame],
                     tile_index: gpd.GeoDataFrame) -> Figure:
    """The first evaluated raw image with truth, merged predictions, the tile grid and the validation area,
    in the image's CRS."""
    image_id = frames["tiles"].image_id.min() if len(frames["tiles"]) else min(raw_images)
    source = raw_images[image_id]()
    raster = source.read_overview(max_size=1024)
    left, bottom, right, top = raster.profile["bounds"]
    to_image = {k: frames[k].to_crs(source.profile["crs"]) for k in ("truth", "pred")}
    tiles = tile_index[tile_index.image_id == image_id].to_crs(source.profile["crs"])
    val_tiles = frames["tiles"][frames["tiles"].image_id == image_id].to_crs(source.profile["crs"])
    area = val_tiles.geometry.union_all() if len(val_tiles) else None
    bands = raster.array[:3] if raster.array.shape[0] >= 3 else raster.array[:1].repeat(3, axis=0)
    return map_overlay(stretch(bands), (left, right, bottom, top), to_image["truth"], to_image["pred"], tiles,
                       area)


def write_report(mlflow_run: dict[str, Any], building_scores: pd.DataFrame, border: dict,
                 mask_ap: dict[str, float | None], params: dict[str, Any]
                 ) -> tuple[str, dict[str, list[dict[str, float]]]]:
    """The Markdown report and the flat metrics MLflow logs next to the training metrics.

    MLflow metrics must be numbers, so undefined ones (n/a) are left out of the run; the report lists them.
    """
    building_scores = building_scores.set_index("class_name")
    metrics = flat_metrics(building_scores, border, mask_ap)
    unlogged = [name for name, value in metrics.items() if value is None]
    report = markdown_report(mlflow_run["run_id"] or "(no MLflow run)", building_scores, border, mask_ap,
                             [f"plots/{name}" for name in PLOT_FILES], params, unlogged_metrics=unlogged)
    return report, {k: [{"step": 0, "value": v}] for k, v in metrics.items() if v is not None}

"""From one tile's predicted instance masks to georeferenced building polygons (the per-tile JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from footprints.classes import CLASS_NAMES
from footprints.geo import (TileGrid, coordinate_decimals, ground_pixel_size, pixel_size, polygonal_parts,
                            polygonize_mask, reproject)
from footprints.postprocess.robust import iou, overlay, warn_failures


class PredictedInstance(Protocol):
    """What a predictor gives per instance (the model's output, or ground truth in the oracle test)."""

    mask: np.ndarray  # H x W bool, in the tile's pixel grid
    class_id: int  # 1-based
    score: float
    class_scores: dict[str, float]  # one probability per name in CLASS_NAMES


def tile_prediction(grid: TileGrid, instances: Sequence[PredictedInstance], params: dict[str, Any],
                    model_ref: dict[str, Any], area: BaseGeometry | None = None) -> dict[str, Any]:
    """The JSON document of one tile: every instance as class scores and a polygon in the tile's CRS.

    Masks are polygonised in the tile's transform, then measured in the image's metric CRS
    (``grid.metric_crs``, metres whatever the image CRS): simplified by ``simplify_px`` pixels (a mask's
    outline is a pixel staircase; about one pixel leaves a building tens of vertices, not hundreds), cut to
    ``area`` (the in-image part of the tile, in the tile CRS: no polygon reaches into padding), parts
    smaller than ``min_area_m2`` dropped (an instance with none left goes), and class-agnostic duplicates
    inside the tile (IoU >= ``iou_threshold``) reduced to the best-scoring one. ``geometry`` is written in the
    tile's CRS, its coordinates kept to a hundredth of a pixel.
    """
    metric = grid.metric_crs
    pixel = ground_pixel_size(grid.transform, grid.width, grid.height, grid.crs, metric)
    inside = reproject([area], grid.crs, metric)[0] if area is not None else None
    outlines = reproject([polygonize_mask(inst.mask, grid.transform) for inst in instances], grid.crs, metric)
    records = [_instance_record(inst, outline, params["simplify_px"] * pixel, params, inside)
               for inst, outline in zip(instances, outlines)]
    records = _suppress_duplicates([r for r in records if not r["geometry"].is_empty], params["iou_threshold"])
    native = reproject([r["geometry"] for r in records], metric, grid.crs)
    decimals = coordinate_decimals(pixel_size(grid.transform))
    return {
        "tile_id": grid.tile_id,
        "image_id": grid.image_id,
        "crs": grid.crs.to_string(),
        "metric_crs": metric.to_string(),
        "transform": list(grid.transform)[:6],
        "height": grid.height,
        "width": grid.width,
        "model": model_ref,
        "in_image": list(area.bounds) if area is not None else None,  # the tile's in-image box, tile CRS
        "instances": [{**r, "geometry": mapping(rounded(geom, decimals))} for r, geom in zip(records, native)],
    }


def _instance_record(inst: PredictedInstance, geometry: BaseGeometry, tolerance: float, params: dict[str, Any],
                     inside: BaseGeometry | None) -> dict[str, Any]:
    """One instance's polygon in metres: holes under ``min_area_m2`` filled (a model's mask is peppered with
    pixel-sized holes that no building has), simplified, cut to the image, parts under ``min_area_m2`` dropped.
    """
    geometry = _without_small_holes(geometry, params["min_area_m2"])
    if tolerance > 0:
        geometry = geometry.simplify(tolerance, preserve_topology=True)
    if inside is not None:
        clipped = overlay(shapely.intersection, np.array([geometry], dtype=object), inside)[0]
        warn_failures(int(clipped is None), "detections cut to the image (left whole)")
        geometry = geometry if clipped is None else clipped
    parts = [p for p in polygonal_parts(shapely.make_valid(geometry)) if p.area >= params["min_area_m2"]]
    geometry = parts[0] if len(parts) == 1 else MultiPolygon(parts)
    return {"class": CLASS_NAMES[inst.class_id - 1], "score": round(float(inst.score), 4),
            "scores": {name: round(float(inst.class_scores[name]), 4) for name in CLASS_NAMES},
            "geometry": geometry, "touches_tile_edge": _touches_edge(inst.mask)}


def rounded(geom: BaseGeometry, decimals: int) -> BaseGeometry:
    """``geom`` with coordinates rounded to ``decimals``, still valid (a rounding that would make two edges
    cross is snapped and repaired by ``set_precision`` first)."""
    fewer = _round_coordinates(geom, decimals)
    return fewer if fewer.is_valid else _round_coordinates(shapely.set_precision(geom, 10.0 ** -decimals), decimals)


def _round_coordinates(geom: BaseGeometry, decimals: int) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.round(xy, decimals))


def _without_small_holes(geometry: BaseGeometry, min_area: float) -> BaseGeometry:
    parts = [Polygon(part.exterior, [hole for hole in part.interiors if Polygon(hole).area >= min_area])
             for part in polygonal_parts(geometry)]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _touches_edge(mask: np.ndarray) -> bool:
    """A mask on the tile's outer pixels may be a fragment of a building cut by the tile border."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _suppress_duplicates(records: list[dict[str, Any]], iou_threshold: float) -> list[dict[str, Any]]:
    """Greedy class-agnostic suppression by score: Mask R-CNN's NMS is per class, so one building can come
    out twice with two classes."""
    kept: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: -r["score"]):
        geoms = np.array([k["geometry"] for k in kept], dtype=object)
        if len(kept) and (iou(geoms, record["geometry"])[0] >= iou_threshold).any():
            continue
        kept.append(record)
    return kept

"""From one tile's predicted instance masks to georeferenced building polygons (the per-tile JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import mapping

from footprints.classes import CLASS_NAMES
from footprints.geo import WGS84, TileGrid, polygonize_mask, reproject


class PredictedInstance(Protocol):
    """What a predictor gives per instance (the model's output, or ground truth in the oracle test)."""

    mask: np.ndarray  # H x W bool, in the tile's pixel grid
    class_id: int  # 1-based
    score: float
    class_scores: dict[str, float]  # one probability per name in CLASS_NAMES


def tile_prediction(grid: TileGrid, instances: Sequence[PredictedInstance], params: dict[str, Any],
                    model_ref: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of one tile: every instance as class scores and polygons in map and WGS84 coords.

    Masks are polygonised in the tile's transform, simplified by ``simplify_tolerance`` (map units),
    instances smaller than ``min_area_m2`` dropped, and class-agnostic duplicates inside the tile
    (IoU >= ``iou_threshold``) reduced to the best-scoring one.
    """
    records = [_instance_record(grid, inst, params["simplify_tolerance"]) for inst in instances]
    records = [r for r in records if r["geometry"].area >= params["min_area_m2"]]
    records = _suppress_duplicates(records, params["iou_threshold"])
    wgs84 = reproject([r["geometry"] for r in records], grid.crs, WGS84)
    return {
        "tile_id": grid.tile_id,
        "image_id": grid.image_id,
        "crs": grid.crs.to_string(),
        "transform": list(grid.transform)[:6],
        "height": grid.height,
        "width": grid.width,
        "model": model_ref,
        "instances": [_to_json(r, geo) for r, geo in zip(records, wgs84)],
    }


def _instance_record(grid: TileGrid, inst: PredictedInstance, tolerance: float) -> dict[str, Any]:
    geometry = polygonize_mask(inst.mask, grid.transform, simplify=tolerance)
    return {"class": CLASS_NAMES[inst.class_id - 1], "score": float(inst.score),
            "scores": {name: float(inst.class_scores[name]) for name in CLASS_NAMES},
            "geometry": geometry, "touches_tile_edge": _touches_edge(inst.mask)}


def _touches_edge(mask: np.ndarray) -> bool:
    """A mask on the tile's outer pixels may be a fragment of a building cut by the tile border."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _suppress_duplicates(records: list[dict[str, Any]], iou_threshold: float) -> list[dict[str, Any]]:
    """Greedy class-agnostic suppression by score: Mask R-CNN's NMS is per class, so one building can come
    out twice with two classes."""
    kept: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: -r["score"]):
        geoms = np.array([k["geometry"] for k in kept], dtype=object)
        if len(kept) and (_iou(geoms, record["geometry"]) >= iou_threshold).any():
            continue
        kept.append(record)
    return kept


def _iou(geoms: np.ndarray, other) -> np.ndarray:
    inter = shapely.area(shapely.intersection(geoms, other))
    union = shapely.area(geoms) + other.area - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _to_json(record: dict[str, Any], geometry_wgs84) -> dict[str, Any]:
    return {**record, "geometry": mapping(record["geometry"]), "geometry_wgs84": mapping(geometry_wgs84)}


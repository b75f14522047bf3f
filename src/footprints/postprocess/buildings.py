"""One image's buildings from its tile documents: merged in metres, written with a fixed schema.

The tile documents hold polygons in the image CRS, which may be in degrees (EPSG:4326) or Web Mercator;
the merge's IoU, tolerances and areas are taken in the image's metric CRS (``metric_crs`` of every document,
see ``footprints.geo.metric_crs``) and the buildings come back in the image CRS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon

from footprints.geo import ground_pixel_size, reproject
from footprints.postprocess.merge import SCORE_COLUMNS, detections_frame, merge_detections
from footprints.postprocess.regularise import squared_outlines
from footprints.postprocess.robust import grid_for, overlay, valid_polygons

log = logging.getLogger(__name__)

BUILDING_COLUMNS = ["building_id", "class_name", "score", *SCORE_COLUMNS, "tile_ids", "n_merged", "geometry"]
BUILDING_DTYPES = {"building_id": "int64", "class_name": "str", "score": "float64",
                   **dict.fromkeys(SCORE_COLUMNS, "float64"), "n_merged": "int64"}


def image_buildings(documents: Sequence[dict[str, Any]], params: dict[str, Any]) -> gpd.GeoDataFrame:
    """Merge one image's tile detections into buildings (image CRS, ``BUILDING_COLUMNS``)."""
    detections, tiles = detections_frame(documents)
    image_crs = detections.crs
    metric = CRS.from_user_input(documents[0]["metric_crs"]) if documents else image_crs
    if len(documents) and metric != image_crs:
        detections, tiles = detections.to_crs(metric), _tiles_in(tiles, image_crs, metric, documents[0])
    buildings = merge_detections(detections, tiles, params) if len(detections) else None
    if buildings is not None and params.get("regularise"):
        squared, unchanged = squared_outlines(buildings.geometry.values, buildings.crs, tiles["pixel_size"])
        log.info("squared %d building outlines (%d kept as merged: the squared one strayed too far)",
                 len(buildings) - unchanged, unchanged)
        buildings = buildings.set_geometry(gpd.GeoSeries(squared, index=buildings.index, crs=buildings.crs))
    if buildings is not None:
        buildings = inside_image(buildings.to_crs(image_crs), documents)
    return building_schema(buildings, crs=image_crs)


def inside_image(buildings: gpd.GeoDataFrame, documents: Sequence[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Buildings cut to the image (the union of the tiles' in-image boxes, in the image CRS; ``building_schema``
    makes every one a MultiPolygon after): coordinates
    kept to 1/100 pixel in the tile documents, reprojections and squared walls may put a vertex a hair or a
    little more outside it, and every output polygon lies inside its image."""
    boxes = [shapely.box(*doc["in_image"]) for doc in documents if doc.get("in_image")]
    if buildings.empty or not boxes:
        return buildings
    geoms = buildings.geometry.values
    cut = overlay(shapely.intersection, np.asarray(geoms, dtype=object), shapely.union_all(boxes),
                  grid_for(buildings.crs))
    kept = valid_polygons(np.where(np.equal(cut, None), np.asarray(geoms, dtype=object), cut))
    present = ~shapely.is_empty(kept)
    return buildings[present].set_geometry(gpd.GeoSeries(kept[present], index=buildings.index[present],
                                                         crs=buildings.crs))


def _tiles_in(tiles: dict[str, Any], src: CRS, dst: CRS, document: dict[str, Any]) -> dict[str, Any]:
    """Tile footprints in ``dst`` and the ground size of a pixel there (square root of the pixel area)."""
    ids = list(tiles["footprints"])
    footprints = dict(zip(ids, reproject([tiles["footprints"][t] for t in ids], src, dst)))
    pixel = ground_pixel_size(Affine(*document["transform"]), document["width"], document["height"], src, dst)
    return {**tiles, "footprints": footprints, "pixel_size": pixel}


def building_schema(buildings: gpd.GeoDataFrame | None, crs: Any) -> gpd.GeoDataFrame:
    """The same columns, dtypes and geometry type (MultiPolygon) with and without buildings.

    A GeoPackage layer takes its field types from the first frame written: an empty frame would give
    String scores and geometry type Unknown, and QGIS styles or joins built on one run break on the next.
    """
    if buildings is None or buildings.empty:  # tile_ids: JSON text once written, as in a non-empty frame
        frame = gpd.GeoDataFrame({c: pd.Series(dtype="str" if c == "tile_ids" else "object")
                                  for c in BUILDING_COLUMNS[:-1]}, geometry=[], crs=crs)
    else:
        frame = buildings[BUILDING_COLUMNS].copy()
    frame = frame.astype(BUILDING_DTYPES)
    multi = [g if isinstance(g, MultiPolygon) else MultiPolygon([g]) if isinstance(g, Polygon) else g
             for g in frame.geometry.values]
    return frame.set_geometry(gpd.GeoSeries(multi, index=frame.index, crs=frame.crs))


def polygon_parts_count(buildings: gpd.GeoDataFrame) -> int:
    """How many buildings stayed in several parts after merging (logged: the CSV keeps the largest part)."""
    return int((shapely.get_num_geometries(buildings.geometry.values) > 1).sum()) if len(buildings) else 0

"""Nodes of the preprocessing pipeline.

Tiles are returned as lazy, picklable callables: the ``tiles`` dataset (``TileImagesDataset``) calls them in
batches on the run's Dask workers (or in-process), so pixels are read, compressed and written where the
task runs and peak memory does not grow with the raster.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import geopandas as gpd
from footprints.datasets.raster import Raster, RasterSource
from footprints.errors import InputError
from footprints.geo import WGS84, TileSpec, check_tiling, footprint, iter_tiles, metric_crs, reproject
from footprints.tiling import SOURCE_TAG, WINDOW_TAG, measure_images, read_tile, window_text

log = logging.getLogger(__name__)

# geometry: the part of the tile inside its image (padding excluded), in WGS84.
INDEX_COLUMNS = ["tile_id", "image_id", "row_off", "col_off", "width", "height", "transform", "crs",
                 "metric_crs", "valid_fraction", "image_sha256", "geometry"]


def tile_images(raw_images: dict[str, Callable[[], RasterSource]],
                existing_tiles: dict[str, Callable[[], dict[str, str]]], params: dict[str, Any]
                ) -> tuple[dict[str, Callable[[], Raster]], gpd.GeoDataFrame]:
    """Plan the tiles of every raw image and index them; tiles already on disk from the same raster content
    (an earlier or interrupted run) are not written again.

    Args:
        raw_images: partition id (image id) -> loader of a lazy ``RasterSource``.
        existing_tiles: tile id -> loader of the tags of a tile already written (empty on a first run).
        params: ``tile_size``, ``overlap`` (pixels), ``min_valid_fraction`` (tiles with less valid data are
            skipped).

    Returns:
        tile id -> callable producing the tile ``Raster``; the tile index, one row per kept tile: its grid
        in the image CRS (``crs``, ``transform``), the CRS its lengths and areas are measured in
        (``metric_crs``, see ``footprints.geo.metric_crs``) and its footprint in WGS84, the one CRS in which
        tiles of images from different zones can share a layer.
    """
    tile_size, overlap = params["tile_size"], params["overlap"]
    check_tiling(tile_size, overlap)
    if not raw_images:
        raise InputError("no raw images found: put GeoTIFFs (.tif) in data/01_raw/images")
    sources = {image_id: load() for image_id, load in sorted(raw_images.items())}
    specs = {image_id: list(iter_tiles(image_id, s.profile["width"], s.profile["height"], s.profile["transform"],
                                       tile_size, overlap)) for image_id, s in sources.items()}
    digests, fractions = measure_images(sources, specs)
    tiles: dict[str, Callable[[], Raster]] = {}
    rows = []
    for image_id, source in sources.items():
        image_rows = _index_image(image_id, source, specs[image_id], fractions[image_id], digests[image_id],
                                  params)
        rows.extend(image_rows)
        tiles.update({row["tile_id"]: partial(read_tile, source, row["spec"], row["image_sha256"])
                      for row in image_rows if not _already_written(existing_tiles, row)})
    if not rows:  # keeping nothing of a non-empty input is a setting or a file to fix, not a result
        raise InputError(f"none of the {len(sources)} raw images gave a tile with "
                         f"{params['min_valid_fraction']:.0%} valid pixels; check their nodata value, or lower "
                         "preprocessing.min_valid_fraction")
    index = gpd.GeoDataFrame([{k: r[k] for k in INDEX_COLUMNS} for r in rows], columns=INDEX_COLUMNS,
                             geometry="geometry", crs=WGS84)
    log.info("%d tiles of %d px (overlap %d) from %d images; %d to write, the others are unchanged on disk",
             len(index), tile_size, overlap, len(sources), len(tiles))
    return tiles, index


def _index_image(image_id: str, source: RasterSource, specs: list[TileSpec], fractions: list[float], digest: str,
                 params: dict[str, Any]) -> list[dict[str, Any]]:
    """One index row per tile of an image that holds enough valid pixels."""
    profile = source.profile
    image_area = footprint(profile["transform"], profile["width"], profile["height"])
    metric = metric_crs(profile["crs"], image_area.bounds).to_string()
    kept = [(spec, valid) for spec, valid in zip(specs, fractions, strict=True)
            if valid >= params["min_valid_fraction"]]
    shapes = [footprint(spec.transform, spec.size, spec.size).intersection(image_area) for spec, _ in kept]
    outlines = reproject(shapes, profile["crs"], WGS84)  # one transformer for the image, not one per tile
    rows = [{"tile_id": spec.tile_id, "image_id": image_id, "row_off": spec.row_off, "col_off": spec.col_off,
             "width": spec.size, "height": spec.size, "transform": json.dumps(list(spec.transform)[:6]),
             "crs": profile["crs"].to_string(), "metric_crs": metric, "valid_fraction": round(valid, 6),
             "image_sha256": digest, "geometry": outline, "spec": spec}
            for (spec, valid), outline in zip(kept, outlines, strict=True)]
    if not rows:
        log.warning("%s: no tile has %.0f%% valid pixels; the image is skipped", source.path,
                    100 * params["min_valid_fraction"])
    return rows


def _already_written(existing_tiles: dict[str, Callable[[], dict[str, str]]], row: dict[str, Any]) -> bool:
    """A tile on disk is reused only if it came from the same raster content and the same window."""
    if row["tile_id"] not in existing_tiles:
        return False
    tags = existing_tiles[row["tile_id"]]()
    return tags.get(SOURCE_TAG) == row["image_sha256"] and tags.get(WINDOW_TAG) == window_text(row["spec"])

"""Cross-tile merging as one task per image: each task reads its own tile documents and merges them, so the
documents of all images are never in memory together and images merge in parallel on the run's cluster."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import geopandas as gpd

from footprints.distributed import map_tasks
from footprints.geo import image_of_tile
from footprints.postprocess.buildings import image_buildings

DocumentLoader = Callable[[], dict[str, Any]]


def merge_image(job: tuple[list[DocumentLoader], dict[str, Any]]) -> tuple[gpd.GeoDataFrame, int]:
    """Buildings of one image from its tile documents (loaded here, on the worker; merged in the image's metric
    CRS, returned in its own), and the number of tile detections they came from."""
    loaders, params = job
    documents = [load() for load in loaders]
    return image_buildings(documents, params), sum(len(doc["instances"]) for doc in documents)


def merge_images(tile_documents: dict[str, DocumentLoader], tile_ids: list[str], params: dict[str, Any]
                 ) -> dict[str, tuple[gpd.GeoDataFrame, int]]:
    """Image id -> (buildings, tile detections) for the images of ``tile_ids``, one task per image.

    Args:
        tile_documents: tile id -> loader of its prediction document (a lazy partition).
        tile_ids: the tiles of this run (the folder may hold others from earlier runs).
        params: the ``merge`` parameters of ``merge_detections``.
    """
    by_image: dict[str, list[DocumentLoader]] = defaultdict(list)
    for tile in tile_ids:
        by_image[image_of_tile(tile)].append(tile_documents[tile])
    image_ids = sorted(by_image)
    merged = map_tasks(merge_image, [(by_image[image_id], params) for image_id in image_ids])
    return dict(zip(image_ids, merged, strict=True))

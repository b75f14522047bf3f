"""Real labelled tiles of the four-city data, made by the project's own preprocessing and labels nodes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from footprints.datasets.raster import GeoTIFFDataset
from footprints.datasets.vector import VectorFileDataset
from footprints.pipelines.labels.nodes import build_instance_masks, clean_labels, query_tile_labels
from footprints.pipelines.preprocessing.nodes import tile_images
from tests.conftest import PROJECT, project_params

FOUR_CITIES = PROJECT / "tests/data/oam_osm_four_cities"


def real_tiles(workdir: Path, city: str, image: str, tile_size: int, overlap: int) -> dict:
    """Tiles, tile index, instance masks and label database of one real raster, as the pipelines make them.

    The OSM labels have no class attribute: every building maps to ``complete``.
    """
    source = GeoTIFFDataset(filepath=str(FOUR_CITIES / city / f"{image}.tif"), lazy=True)
    tiles, index = tile_images({image: source.load}, {},
                               {**project_params("preprocessing"), "tile_size": tile_size, "overlap": overlap})
    raw = VectorFileDataset(filepath=str(FOUR_CITIES / city / "labels.geojson")).load()
    labels, _ = clean_labels(raw, index, {**project_params("labels"), "unknown_class": "complete"})
    store = VectorFileDataset(filepath=str(workdir / "labels.gpkg"), layer="labels", lazy=True)
    store.save(labels)
    instances, labelled = query_tile_labels(store.load(), index)
    return {"tiles": tiles, "tile_index": index, "labelled": labelled, "label_database": store.load(),
            "instance_masks": build_instance_masks(instances, labelled), "source": source}


def busiest_apart(labelled: gpd.GeoDataFrame, count: int) -> list[str]:
    """The ``count`` whole-image tiles with the most building instances, no two sharing a pixel."""
    chosen: list = []
    for row in labelled[labelled.valid_fraction >= 1].sort_values(["n_instances", "tile_id"],
                                                                  ascending=[False, True]).itertuples():
        if all(not row.geometry.intersects(other.geometry) or row.geometry.touches(other.geometry)
               for other in chosen):
            chosen.append(row)
        if len(chosen) == count:
            break
    return [row.tile_id for row in chosen]


def split_of(labelled: gpd.GeoDataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """A ``tile_split`` table (the labels pipeline's shape) giving ``roles`` to those tiles only."""
    rows = labelled[labelled.tile_id.isin(roles)]
    return pd.DataFrame(rows.drop(columns="geometry"))[
        ["tile_id", "image_id", "row_off", "col_off", "n_instances", "image_sha256"]].assign(
        split=rows.tile_id.map(roles).values)


def lazy(value) -> Callable[[], object]:
    return lambda: value

"""Images in different UTM zones in one run: each image gets the tiles and labels a run on it alone gets.

The shipped sample (Zanzibar, EPSG:32737) and the SpaceNet Atlanta tile (EPSG:32616) share one label file;
the per-tile query runs per image in that image's CRS, in the GeoPackage and in PostGIS alike.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from footprints.datasets.postgis import PostGISTableDataset
from footprints.datasets.raster import GeoTIFFDataset
from footprints.datasets.vector import VectorFileDataset
from footprints.labels.cleaning import clean_labels
from footprints.pipelines.labels.nodes import query_tile_labels
from footprints.pipelines.preprocessing.nodes import tile_images
from tests.conftest import ATLANTA, SAMPLE_IMAGE, SAMPLE_LABELS, project_params

IMAGES = {"tanzania_sample": SAMPLE_IMAGE, "atlanta": ATLANTA / "sample_geotiff.tif"}
LABELS = {**project_params("labels"), "unknown_class": "complete"}  # Atlanta's footprints carry no class


def all_labels() -> gpd.GeoDataFrame:
    tanzania = VectorFileDataset(filepath=str(SAMPLE_LABELS)).load()
    atlanta = VectorFileDataset(filepath=str(ATLANTA / "geotiff_labels.geojson")).load().to_crs(tanzania.crs)
    return gpd.GeoDataFrame(pd.concat([tanzania[["condition", "geometry"]], atlanta[["geometry"]]],
                                      ignore_index=True), crs=tanzania.crs)


def run(image_ids: list[str], store) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    sources = {i: GeoTIFFDataset(filepath=str(IMAGES[i]), lazy=True).load for i in image_ids}
    _, index = tile_images(sources, {}, project_params("preprocessing"))
    labels, _ = clean_labels(all_labels(), index, LABELS)
    store.save(labels)
    instances, _ = query_tile_labels(store.load(), index)
    return index, instances


def check_each_image_as_alone(make_store) -> None:
    index, instances = run(list(IMAGES), make_store("both"))
    assert set(index.metric_crs) == {"EPSG:32737", "EPSG:32616"}
    for image_id in IMAGES:
        alone_index, alone = run([image_id], make_store(image_id))
        mine = index[index.image_id == image_id].reset_index(drop=True)
        pd.testing.assert_frame_equal(pd.DataFrame(mine.drop(columns="geometry")),
                                      pd.DataFrame(alone_index.drop(columns="geometry")))
        assert mine.geometry.geom_equals_exact(alone_index.geometry, tolerance=1e-12).all()
        got = instances[instances.tile_id.isin(mine.tile_id)].sort_values(["tile_id", "source_fid"])
        want = alone.sort_values(["tile_id", "source_fid"])
        assert len(got) == len(want) > 0
        crs = mine["crs"].iloc[0]
        difference = got.to_crs(crs).geometry.symmetric_difference(want.to_crs(crs).geometry, align=False).area
        assert (difference.to_numpy() < 1e-6).all()  # square metres
        local = got.to_crs(crs).total_bounds  # clipped in the image's own CRS, where the image is
        image_box = mine.to_crs(crs).total_bounds
        assert local[0] >= image_box[0] - 1e-6 and local[2] <= image_box[2] + 1e-6


def test_two_utm_zones_in_one_run_geopackage(tmp_path):
    check_each_image_as_alone(lambda name: VectorFileDataset(filepath=str(tmp_path / f"{name}.gpkg"),
                                                             layer="labels", lazy=True))


@pytest.mark.postgis
def test_two_utm_zones_in_one_run_postgis(postgis_url, pg_schema):
    check_each_image_as_alone(lambda name: PostGISTableDataset(table=f"labels_{name}", schema=pg_schema,
                                                               credentials={"con": postgis_url},
                                                               lazy=True))

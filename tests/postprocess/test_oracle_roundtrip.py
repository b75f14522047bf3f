"""Oracle round trip: labels -> tiles -> masks -> polygons -> merge -> CSV gives back the input buildings.

The predictor is replaced by one that returns each tile's ground-truth masks; everything else is the real
code path of the predict and inference pipelines (the same node functions), on the shipped sample in its own
UTM CRS and warped to EPSG:4326 and Web Mercator, with the default tiling and with no overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import wkt

from footprints.classes import CLASS_NAMES
from footprints.datasets.raster import GeoTIFFDataset
from footprints.datasets.vector import VectorFileDataset
from footprints.geo import WGS84, TileGrid, footprint, reproject, swap_xy
from footprints.pipelines.labels.nodes import build_instance_masks, clean_labels, query_tile_labels
from footprints.pipelines.preprocessing.nodes import tile_images
from footprints.postprocess.buildings import image_buildings
from footprints.postprocess.challenge import CSV_COLUMNS, challenge_table
from footprints.postprocess.merge import detections_frame
from footprints.postprocess.tile_polygons import tile_prediction
from tests.conftest import project_params


@dataclass
class OracleInstance:
    mask: np.ndarray
    class_id: int
    score: float
    class_scores: dict[str, float]


def oracle_instances(masks) -> list[OracleInstance]:
    return [OracleInstance(m.astype(bool), int(c), 1.0, {n: float(i + 1 == c) for i, n in enumerate(CLASS_NAMES)})
            for m, c in zip(masks.masks, masks.class_ids)]


def run_oracle(tmp_path, image, sample_labels, overlap):
    source = GeoTIFFDataset(filepath=str(image), lazy=True)
    tiles, index = tile_images({"tanzania_sample": source.load}, {},
                               {**project_params("preprocessing"), "overlap": overlap})
    labels, _ = clean_labels(VectorFileDataset(filepath=str(sample_labels)).load(), index,
                             project_params("labels"))
    store = VectorFileDataset(filepath=str(tmp_path / "labels.gpkg"), layer="labels", lazy=True)
    store.save(labels)
    instances, labelled = query_tile_labels(store.load(), index)
    masks = build_instance_masks(instances, labelled)
    params = project_params("inference")
    docs = [tile_prediction(TileGrid.from_index_row(row), oracle_instances(masks[row.tile_id]()),
                            params["polygons"], {"oracle": True},
                            reproject([row.geometry], WGS84, row.crs)[0]) for row in labelled.itertuples()]
    detections, _ = detections_frame(docs)
    merged = image_buildings(docs, params["merge"])
    profile = source.load().profile
    table = challenge_table(merged, profile["transform"])
    image_area = footprint(profile["transform"], profile["width"], profile["height"])
    labels = labels.to_crs(profile["crs"])
    expected = labels[labels.intersects(image_area)].assign(geometry=lambda f: f.intersection(image_area))
    return merged, table, expected, detections, image_area


def best_iou(geom, others) -> float:
    inter = shapely.area(shapely.intersection(others, geom))
    return float(np.max(inter / shapely.area(shapely.union(others, geom))))


@pytest.mark.parametrize("overlap", [64, 0])
def test_oracle_reproduces_input_buildings(tmp_path, sample_image, sample_labels, overlap):
    merged, table, expected, detections, _ = run_oracle(tmp_path, sample_image, sample_labels, overlap)

    assert len(expected) == 7  # the buildings of the sample that touch the image
    assert len(detections) > len(expected)  # tiles saw duplicates and fragments ...
    assert len(merged) == len(expected)  # ... and the merge leaves exactly one polygon per building
    for geom in expected.geometry.values:
        assert best_iou(geom, merged.geometry.values) >= 0.9
    assert list(merged.class_name) == ["complete"] * len(merged)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857"])
def test_oracle_on_warped_copies(tmp_path, warped_sample, sample_labels, crs):
    """Degrees and Web Mercator: the same buildings, merged in the UTM zone of the image, in the image CRS."""
    merged, table, expected, _, image_area = run_oracle(tmp_path, warped_sample(crs), sample_labels, 64)

    assert merged.crs == crs
    assert len(merged) == len(expected) == 7
    for geom in expected.geometry.values:
        assert best_iou(geom, merged.geometry.values) >= 0.9
    assert merged.geometry.is_valid.all()
    tolerance = 1e-9 if crs == "EPSG:4326" else 1e-3  # float noise of the reprojection round trip
    assert merged.geometry.within(image_area.buffer(tolerance)).all()
    assert all(wkt.loads(w).is_valid for w in table.coords_geo)


def test_challenge_csv_coordinates_round_trip(tmp_path, sample_image, sample_labels):
    merged, table, expected, _, _ = run_oracle(tmp_path, sample_image, sample_labels, 64)

    assert list(table.columns) == CSV_COLUMNS
    first = wkt.loads(table.coords_geo.iloc[0])
    lat, lon = first.exterior.coords[0]
    assert -5.8 < lat < -5.6 and 39.2 < lon < 39.4  # latitude first, as in the challenge example
    assert max(len(c.split(" ")[1].split(".")[-1].rstrip(",)")) for c in table.coords_geo) == 9  # 1e-9 degrees
    geo = reproject([swap_xy(wkt.loads(w)) for w in table.coords_geo], WGS84, merged.crs)
    assert all(g.is_valid and g.geom_type == "Polygon" for g in geo)
    pixel = wkt.loads(table.coords_pixel.iloc[0])
    assert 0 <= pixel.bounds[0] and pixel.bounds[2] <= 1000
    for geom in expected.geometry.values:
        assert best_iou(geom, np.array(geo, dtype=object)) >= 0.9

"""``footprints predict``: new imagery in any CRS through the predict pipeline, with a model trained here.

The EPSG:4326 and Web Mercator copies keep the sample's pixels and only express its grid in another CRS (as
``gdal_translate -a_srs -a_ullr`` would), so the model sees the same pixels and any difference in the
buildings comes from the CRS handling alone; resampled (gdalwarp) copies are the oracle test's.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
import torch
from affine import Affine
from click.testing import CliRunner
from shapely import wkt

from footprints.__main__ import cli
from footprints.geo import WGS84, footprint, map_to_pixel, reproject, swap_xy
from footprints.model import TileDataset, collate_fn, fit
from footprints.model.weights import ModelWeights, save_weights
from tests.conftest import SAMPLE_IMAGE, copy_project, inside
from tests.model.model_helpers import RGB_MEAN, RGB_STD, TILE, sample, small_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A small v1 model trained for two epochs on a synthetic tile: weak, but it detects (at 0.05)."""
    torch.manual_seed(0)
    model = small_model()
    data = TileDataset([sample()] * 2, [1, 2, 3], RGB_MEAN, RGB_STD, augment=False)
    loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=collate_fn)
    fit(model, loader, None, epochs=2, lr=0.01, weight_decay=1e-4, device=torch.device("cpu"), progress=False)
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    config = {"arch": "maskrcnn_resnet50_fpn", "tile_size": TILE, "bands": [1, 2, 3], "mean": list(RGB_MEAN),
              "std": list(RGB_STD)}
    save_weights(ModelWeights(model.state_dict(), config), path)
    return path


def regeoreferenced(dst: Path, crs: str) -> Path:
    """The sample's pixels with its grid expressed in ``crs`` (corners transformed, north-up affine)."""
    with rasterio.open(SAMPLE_IMAGE) as src:
        profile, pixels = src.profile, src.read()
        left, bottom, right, top = reproject([shapely.box(*src.bounds)], src.crs, crs)[0].bounds
    transform = Affine((right - left) / profile["width"], 0, left, 0, -(top - bottom) / profile["height"], top)
    with rasterio.open(dst, "w", **{**profile, "crs": crs, "transform": transform}) as out:
        out.write(pixels)
    return dst


def predict(model: Path, image: Path, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(cli, ["predict", str(model), str(image), "--out", str(out), "--tile-size", "256",
                                      "--score-threshold", "0.05", "--device", "cpu", *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)


def buildings(out: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(next((out / "buildings").glob("*.gpkg")))


def in_pixels(found: gpd.GeoDataFrame, image: Path) -> np.ndarray:
    with rasterio.open(image) as src:
        return np.array([map_to_pixel(g, src.transform) for g in found.geometry.values], dtype=object)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """One project copy for the module (the predictions are the expensive part), simplification off so that
    its vertex choices cannot differ between CRSs."""
    root = copy_project(tmp_path_factory.mktemp("predict"))
    conf = root / "conf/base/parameters_inference.yml"
    conf.write_text(conf.read_text().replace("simplify_px: 1.0", "simplify_px: 0.0"))
    with inside(root):
        yield root


@pytest.fixture(scope="module")
def runs(project, model_file, tmp_path_factory) -> dict[str, tuple[Path, gpd.GeoDataFrame, Path]]:
    """``footprints predict`` on the sample in its UTM CRS and on copies in EPSG:4326 and Web Mercator."""
    folder = tmp_path_factory.mktemp("runs")
    found = {}
    for crs in ("EPSG:32737", "EPSG:4326", "EPSG:3857"):
        image = SAMPLE_IMAGE if crs == "EPSG:32737" else regeoreferenced(folder / f"sample_{crs[5:]}.tif", crs)
        out = folder / f"out_{crs[5:]}"
        predict(model_file, image, out)
        found[crs] = (out, buildings(out), image)
    return found


def test_predict_in_any_crs_gives_the_same_valid_buildings(runs):
    """Same pixels, three CRSs: the same buildings, compared in the pixel grid the three copies share (their
    map coordinates differ by the centimetres of the copies' north-up approximation, which is enough to move
    the thin detections of this weak model)."""
    reference = in_pixels(runs["EPSG:32737"][1], SAMPLE_IMAGE)
    assert len(reference) > 0
    for crs, (out, found, image) in runs.items():
        assert found.crs == crs  # the GeoPackage keeps the image CRS
        with rasterio.open(image) as src:
            area = footprint(src.transform, src.width, src.height)
        assert found.geometry.is_valid.all()
        assert found.geometry.within(area.buffer(1e-6 * np.sqrt(area.area))).all()  # nothing in padding
        assert len(found) == len(reference)
        for geom in in_pixels(found, image):
            inter = shapely.area(shapely.intersection(reference, geom))
            assert np.max(inter / shapely.area(shapely.union(reference, geom))) >= 0.95
        index = gpd.read_file(out / "tile_index.gpkg")
        assert set(index.metric_crs) == {"EPSG:32737"}  # degrees and Web Mercator measured in UTM 37S
        table = pd.read_csv(next((out / "challenge_csv").glob("*.csv")))
        assert len(table) == len(found)
        for geo, pixel in zip(table.coords_geo, table.coords_pixel):
            polygon = wkt.loads(geo)
            assert polygon.geom_type == "Polygon" and polygon.is_valid and wkt.loads(pixel).is_valid
            assert swap_xy(polygon).within(reproject([area], crs, WGS84)[0].buffer(1e-7))
        geojson = gpd.read_file(next((out / "buildings").glob("*.geojson")))
        assert geojson.crs == WGS84 and len(geojson) == len(found)


def _strict(path: Path):
    def refuse(constant):
        raise ValueError(f"{path}: {constant} is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_empty_predictions_keep_the_schema_and_json_is_strict(runs, model_file, tmp_path, make_raster):
    full = runs["EPSG:32737"][0]
    empty = tmp_path / "empty"
    predict(model_file, make_raster("small.tif", width=300, height=300), empty, "--score-threshold", "1.0")

    assert len(buildings(full)) > 0 and len(buildings(empty)) == 0
    info = [pyogrio.read_info(next((out / "buildings").glob("*.gpkg"))) for out in (full, empty)]
    assert info[0]["geometry_type"] == info[1]["geometry_type"] == "MultiPolygon"
    assert list(info[0]["fields"]) == list(info[1]["fields"])
    assert list(info[0]["dtypes"]) == list(info[1]["dtypes"])
    for out in (full, empty):
        for document in (out / "tile_predictions").glob("*.json"):
            assert _strict(document)["instances"] is not None


def test_predict_resumes_and_names_a_band_mismatch(runs, model_file, tmp_path, make_raster):
    out = runs["EPSG:32737"][0]
    first = {p.name: p.stat().st_mtime_ns for p in (out / "tile_predictions").glob("*.json")}
    predict(model_file, SAMPLE_IMAGE, out)  # nothing left to do: every tile is reused
    assert {p.name: p.stat().st_mtime_ns for p in (out / "tile_predictions").glob("*.json")} == first

    grey = make_raster("grey.tif", width=300, height=300, count=1)
    result = CliRunner().invoke(cli, ["predict", str(model_file), str(grey), "--out", str(tmp_path / "grey")])
    assert result.exit_code != 0
    assert "model trained on 3 band(s) [1, 2, 3], this image (grey) has 1" in result.output

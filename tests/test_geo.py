"""The georeference math of footprints.geo, on generated grids and on the shipped sample."""

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from shapely.geometry import Polygon, box

from footprints.errors import InputError
from footprints.geo import (check_tiling, footprint, iter_tiles, map_to_pixel, pixel_to_map, polygonize_mask,
                            rasterize_instances, reproject, swap_xy, tile_offsets)
from footprints.datasets.vector import VectorFileDataset
from tests.conftest import SAMPLE_IMAGE, SAMPLE_LABELS


def test_tile_transform_is_source_transform_shifted_by_offset():
    source = Affine(0.0775, 0, 532854.24, 0, -0.0775, 9366840.76)
    for spec in iter_tiles("img", 1000, 1000, source, 512, 64):
        assert spec.transform == source * Affine.translation(spec.col_off, spec.row_off)
        assert spec.transform.c == pytest.approx(source.c + spec.col_off * source.a)
        assert spec.transform.f == pytest.approx(source.f + spec.row_off * source.e)


def test_offsets_cover_the_image_with_the_requested_overlap():
    assert tile_offsets(1000, 512, 64) == [0, 448, 896]
    assert tile_offsets(1024, 512, 0) == [0, 512]
    assert tile_offsets(100, 512, 64) == [0]  # a raster smaller than one tile gives one padded tile


@pytest.mark.parametrize("size, overlap", [(512, 512), (512, 600), (0, 0), (-5, 0), (512, -1), (51.2, 0)])
def test_tilings_that_make_no_sense_are_rejected(size, overlap):
    with pytest.raises(InputError, match="tile_size|overlap"):
        check_tiling(size, overlap)


def test_pixel_map_round_trip_is_exact():
    transform = Affine(0.5, 0, 1000.0, 0, -0.5, 2000.0)
    geom = Polygon([(1.25, 2.5), (10, 2.5), (10, 7.75)])
    assert pixel_to_map(box(0, 0, 1, 1), transform).bounds == (1000.0, 1999.5, 1000.5, 2000.0)
    assert shapely.equals_exact(map_to_pixel(pixel_to_map(geom, transform), transform), geom, 1e-9)


def test_swap_xy_gives_latitude_first():
    assert swap_xy(shapely.Point(39.3, -5.7)).coords[0] == (-5.7, 39.3)


def test_sample_buildings_rasterised_in_tiles_polygonise_back_in_place():
    with rasterio.open(SAMPLE_IMAGE) as src:
        transform, crs, size = src.transform, src.crs, (src.width, src.height)
    labels = VectorFileDataset(filepath=str(SAMPLE_LABELS)).load().to_crs(crs)
    checked = 0
    for tile in iter_tiles("s", *size, transform, 512, 64):
        area = footprint(tile.transform, 512, 512).intersection(footprint(transform, *size))
        for building in labels.geometry[labels.intersects(area)]:
            part = building.intersection(area)
            if part.area < 5:  # slivers of a few pixels cannot reach IoU 0.95 at any resolution
                continue
            mask = rasterize_instances([part], tile.transform, (512, 512))[0]
            back = polygonize_mask(mask, tile.transform)
            assert part.intersection(back).area / part.union(back).area >= 0.95
            checked += 1
    assert checked >= 7


def test_polygonize_keeps_holes():
    transform = Affine(1, 0, 0, 0, -1, 100)
    mask = np.zeros((20, 20), np.uint8)
    mask[2:18, 2:18] = 1
    mask[8:12, 8:12] = 0
    geom = polygonize_mask(mask, transform)
    assert len(geom.interiors) == 1 and geom.area == 16 * 16 - 16


def test_reproject_to_wgs84_is_lon_lat():
    [point] = reproject([shapely.Point(532890, 9366800)], "EPSG:32737", "EPSG:4326")
    assert 39.2 < point.x < 39.4 and -5.8 < point.y < -5.6

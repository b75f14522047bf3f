"""Tiling nodes on generated rasters of several band counts and dtypes, and on the shipped sample."""

import json

import numpy as np
import pytest
from affine import Affine

from footprints.datasets.raster import GeoTIFFDataset
from footprints.errors import InputError
from footprints.pipelines.preprocessing.nodes import tile_images
from footprints.tiling import SOURCE_TAG, WINDOW_TAG
from tests.conftest import SAMPLE_IMAGE, project_params

PARAMS = {**project_params("preprocessing"), "tile_size": 128, "overlap": 16}


def lazy(*paths):
    return {p.stem: GeoTIFFDataset(filepath=str(p), lazy=True).load for p in paths}


@pytest.mark.parametrize("count, dtype", [(3, "uint8"), (4, "uint16"), (1, "uint16"), (1, "float32")])
def test_tiles_keep_bands_dtype_and_georeference(make_raster, count, dtype):
    path = make_raster(width=300, height=200, count=count, dtype=dtype)
    tiles, index = tile_images(lazy(path), {}, PARAMS)
    assert len(tiles) == len(index) == 3 * 2  # offsets 0, 112, 224 across; 0, 112 down
    full = GeoTIFFDataset(filepath=str(path)).load()
    for row in index.itertuples():
        tile = tiles[row.tile_id]()
        assert tile.array.shape == (count, 128, 128) and tile.array.dtype == np.dtype(dtype)
        assert Affine(*json.loads(row.transform)) == tile.transform
        inside = full.array[:, row.row_off:row.row_off + 128, row.col_off:row.col_off + 128]
        np.testing.assert_array_equal(tile.array[:, :inside.shape[1], :inside.shape[2]], inside)


def test_edge_tiles_are_padded_with_nodata_and_masked(make_raster):
    tiles, index = tile_images(lazy(make_raster(width=300, height=200, nodata=7)), {}, PARAMS)
    corner = tiles[index.tile_id.iloc[-1]]()
    assert (corner.array[:, 88:, :] == 7).all()  # rows past the image edge
    assert (corner.mask[88:, :] == 0).all() and (corner.mask[:88, :76] == 255).all()


def test_index_footprint_is_the_in_image_part_of_the_tile(make_raster):
    _, index = tile_images(lazy(make_raster(width=300, height=200)), {}, PARAMS)
    assert index.crs == "EPSG:4326"  # one layer for images of every CRS
    assert set(index.metric_crs) == set(index["crs"]) == {"EPSG:32737"}
    assert index.to_crs("EPSG:32737").geometry.union_all().area == pytest.approx(300 * 200 * 0.25)
    assert set(index.columns) >= {"tile_id", "image_id", "row_off", "col_off", "valid_fraction", "image_sha256"}


@pytest.mark.parametrize(("crs", "expected"), [("EPSG:4326", "EPSG:32737"), ("EPSG:3857", "EPSG:32737"),
                                               ("EPSG:32616", "EPSG:32616"), ("EPSG:2263", "EPSG:32618")])
def test_each_image_is_measured_in_metres_in_a_crs_that_suits_it(make_raster, crs, expected):
    """Its own CRS when projected in metres and not Web Mercator; else the UTM zone of its centre
    (EPSG:2263 is New York in US feet)."""
    centre = {"EPSG:4326": (39.3, -5.73), "EPSG:3857": (4374840.0, -638950.0), "EPSG:32616": (741000.0, 3737000.0),
              "EPSG:2263": (988000.0, 200000.0)}[crs]
    size = 1e-5 if crs == "EPSG:4326" else 0.5
    image = make_raster(crs=crs, transform=Affine(size, 0, centre[0], 0, -size, centre[1]))
    _, index = tile_images(lazy(image), {}, PARAMS)
    assert set(index.metric_crs) == {expected} and set(index["crs"]) == {crs}


def test_mostly_nodata_tiles_are_skipped(make_raster):
    data = np.zeros((1, 200, 300), np.uint8)
    data[:, :100, :100] = 9
    tiles, index = tile_images(lazy(make_raster(count=1, nodata=0, fill=data)), {}, PARAMS)
    assert list(index.tile_id) == ["image_r00000_c00000"]


def test_images_that_give_no_tile_at_all_stop_the_run(make_raster, caplog):
    with pytest.raises(InputError, match=r"none of the 1 raw images gave a tile .*preprocessing\.min_valid"):
        tile_images(lazy(make_raster(nodata=0, fill=np.zeros((3, 200, 300), np.uint8))), {}, PARAMS)
    assert "no tile has" in caplog.text


def test_raster_smaller_than_one_tile_gives_one_padded_tile(make_raster):
    tiles, index = tile_images(lazy(make_raster(width=50, height=40)), {}, PARAMS)
    assert len(index) == 1 and tiles[index.tile_id[0]]().array.shape == (3, 128, 128)


def test_no_images_is_a_clear_error():
    with pytest.raises(InputError, match="no raw images"):
        tile_images({}, {}, PARAMS)


@pytest.mark.parametrize("size, overlap", [(128, 128), (128, 200), (0, 0), (128, -8)])
def test_bad_tiling_parameters(make_raster, size, overlap):
    with pytest.raises(InputError, match="tile_size|overlap"):
        tile_images(lazy(make_raster()), {}, {**PARAMS, "tile_size": size, "overlap": overlap})


def test_shipped_sample_default_tiling():
    tiles, index = tile_images(lazy(SAMPLE_IMAGE), {}, project_params("preprocessing"))
    assert len(index) == 9 and index.image_id.unique().tolist() == ["tanzania_sample"]
    assert index.valid_fraction.min() == 1.0  # padding does not count against edge tiles


def test_tiles_of_unchanged_rasters_are_not_written_again(make_raster, tmp_path):
    from kedro_datasets.partitions import PartitionedDataset

    from footprints.datasets.partitions import ExistingTilesDataset

    path = make_raster(width=300, height=200)
    folder = {"path": str(tmp_path / "tiles"), "filename_suffix": ".tif"}
    written = PartitionedDataset(dataset="footprints.datasets.raster.GeoTIFFDataset", **folder)  # no manifest
    existing = ExistingTilesDataset(dataset="footprints.datasets.raster.GeoTIFFTagsDataset", **folder)
    assert existing.load() == {}  # first run: nothing on disk yet
    tiles, index = tile_images(lazy(path), existing.load(), PARAMS)
    first_four = dict(list(tiles.items())[:4])
    written.save(first_four)  # a run killed after four tiles

    again, index_again = tile_images(lazy(path), existing.load(), PARAMS)
    assert sorted(again) == sorted(set(tiles) - set(first_four))  # only the missing work
    assert index_again.equals(index)
    make_raster(width=300, height=200, count=3, fill=np.full((3, 200, 300), 5, np.uint8))  # content changes
    assert len(tile_images(lazy(path), existing.load(), PARAMS)[0]) == len(tiles)


def test_jpeg_ycbcr_orthophoto_is_tiled(tmp_path):
    """Drone orthomosaics are often JPEG/YCbCr GeoTIFFs; tiles are written as deflate RGB regardless."""
    import rasterio

    path = tmp_path / "ortho.tif"
    data = (np.indices((256, 256)).sum(axis=0) % 255).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint8",
                       crs="EPSG:32737", transform=Affine(0.1, 0, 532850, 0, -0.1, 9366850), compress="jpeg",
                       photometric="ycbcr", tiled=True) as dst:
        dst.write(np.stack([data] * 3))
    tiles, _ = tile_images(lazy(path), {}, PARAMS)
    out = tmp_path / "tile.tif"
    GeoTIFFDataset(filepath=str(out)).save(next(iter(tiles.values()))())
    with rasterio.open(out) as tile:
        assert tile.compression.value == "DEFLATE" and tile.count == 3


def test_a_rerun_keeps_tiles_by_their_recorded_tags_and_opens_only_changed_files(make_raster, tmp_path):
    """The manifest records each tile's tags with its size and mtime: an unchanged file is kept on the
    record alone (this one no longer even opens), a file touched since is opened and, unreadable, tiled again."""
    import os

    from footprints.datasets.partitions import ExistingTilesDataset, TileImagesDataset

    path = make_raster(width=300, height=200)
    folder = {"path": str(tmp_path / "tiles"), "filename_suffix": ".tif"}
    tiles_ds = TileImagesDataset(dataset="footprints.datasets.raster.GeoTIFFDataset", incremental=True, **folder)
    existing = ExistingTilesDataset(dataset="footprints.datasets.raster.GeoTIFFTagsDataset", **folder)
    tiles, _ = tile_images(lazy(path), existing.load(), PARAMS)
    tiles_ds.save(tiles)
    manifest = json.loads((tmp_path / "tiles/_tif.manifest").read_text())["members"]
    assert all(set(record["tags"]) == {SOURCE_TAG, WINDOW_TAG} for record in manifest.values())

    kept, touched = sorted(tiles)[:2]
    for tile_id in (kept, touched):  # same size, no longer a GeoTIFF
        tile = tmp_path / "tiles" / f"{tile_id}.tif"
        stat = tile.stat()
        tile.write_bytes(b"x" * stat.st_size)
        os.utime(tile, ns=(stat.st_atime_ns, stat.st_mtime_ns if tile_id == kept else stat.st_mtime_ns + 10**9))
    again, _ = tile_images(lazy(path), existing.load(), PARAMS)
    assert sorted(again) == [touched]

    tiles_ds.save(again)  # an incremental save keeps the records of the members it did not write
    manifest = json.loads((tmp_path / "tiles/_tif.manifest").read_text())["members"]
    assert sorted(manifest) == sorted(f"{t}.tif" for t in tiles)
    assert all("tags" in record for record in manifest.values())
    assert tile_images(lazy(path), existing.load(), PARAMS)[0] == {}

    # a manifest that recorded no tags (an earlier version, or a resumed run) learns them from the files once
    manifest_path = tmp_path / "tiles/_tif.manifest"
    manifest_path.write_text(json.dumps({"members": {name: {k: v for k, v in record.items() if k != "tags"}
                                                     for name, record in manifest.items()}}))
    tiles_ds.save({})
    relearnt = json.loads(manifest_path.read_text())["members"]
    name = f"{sorted(tiles)[2]}.tif"
    assert {tag: relearnt[name]["tags"][tag] for tag in (SOURCE_TAG, WINDOW_TAG)} == manifest[name]["tags"]
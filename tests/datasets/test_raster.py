"""GeoTIFFDataset on real GeoTIFFs: round trips, lazy windows, clear errors, atomic writes."""

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from footprints.datasets.raster import GeoTIFFDataset, Raster
from footprints.errors import InputError


class TestGeoTIFFDataset:
    def test_round_trip_keeps_pixels_and_georeference(self, make_raster, tmp_path):
        src = GeoTIFFDataset(filepath=str(make_raster(count=4, dtype="uint16"))).load()
        out = GeoTIFFDataset(filepath=str(tmp_path / "out" / "copy.tif"))
        out.save(src)
        back = out.load()
        np.testing.assert_array_equal(back.array, src.array)
        assert back.crs == src.crs and back.transform == src.transform
        assert back.array.dtype == np.uint16 and back.array.shape[0] == 4

    def test_lazy_handle_reads_windows_padded_with_nodata(self, make_raster):
        source = GeoTIFFDataset(filepath=str(make_raster(width=100, height=80, nodata=0)), lazy=True).load()
        tile = source.read(Window(64, 64, 64, 64))
        assert tile.array.shape == (3, 64, 64)
        assert (tile.mask[:16, :36] == 255).all() and (tile.mask[16:, :] == 0).all()
        assert tile.transform == source.profile["transform"] * rasterio.Affine.translation(64, 64)

    def test_a_raster_without_nodata_or_mask_is_valid_everywhere_inside(self, make_raster, tmp_path):
        """Such rasters skip GDAL's dataset-mask reads; the answers must be those of a read mask."""
        plain = GeoTIFFDataset(filepath=str(make_raster(width=100, height=80)), lazy=True).load()
        masked_path = make_raster("masked.tif", width=100, height=80)
        with rasterio.open(masked_path, "r+") as dst:  # the same pixels, with an explicit all-valid mask band
            dst.write_mask(np.full((80, 100), 255, np.uint8))
        masked = GeoTIFFDataset(filepath=str(masked_path), lazy=True).load()
        for window in (Window(0, 0, 64, 64), Window(64, 64, 64, 64), Window(90, 0, 64, 64)):
            a, b = plain.read(window), masked.read(window)
            np.testing.assert_array_equal(a.mask, b.mask)
            np.testing.assert_array_equal(a.array, b.array)
            assert plain.valid_fraction(window) == masked.valid_fraction(window) == 1.0
        assert plain.read(Window(64, 64, 64, 64)).mask[16:].sum() == 0  # padding stays no data

    def test_mask_of_padded_tile_survives_save(self, make_raster, tmp_path):
        source = GeoTIFFDataset(filepath=str(make_raster(width=100, height=80)), lazy=True).load()
        tile = source.read(Window(0, 0, 128, 128))
        GeoTIFFDataset(filepath=str(tmp_path / "t.tif")).save(tile)
        with rasterio.open(tmp_path / "t.tif") as dst:
            assert (dst.dataset_mask()[80:, :] == 0).all() and (dst.dataset_mask()[:80, :100] == 255).all()

    def test_save_is_atomic(self, make_raster, tmp_path):
        target = tmp_path / "t.tif"
        bad = Raster(np.zeros((1, 4, 4), np.uint8), {"crs": "EPSG:32737", "transform": "not a transform"})
        with pytest.raises(Exception):
            GeoTIFFDataset(filepath=str(target)).save(bad)
        assert list(tmp_path.iterdir()) == []

    def test_not_a_geotiff(self, tmp_path):
        path = tmp_path / "fake.tif"
        path.write_text("this is not an image")
        with pytest.raises(InputError, match="fake.tif: cannot read as a GeoTIFF"):
            GeoTIFFDataset(filepath=str(path)).load()

    def test_truncated_geotiff(self, make_raster, tmp_path):
        full = make_raster(width=512, height=512).read_bytes()
        path = tmp_path / "truncated.tif"
        path.write_bytes(full[: len(full) // 3])
        with pytest.raises(InputError, match="truncated.tif"):
            GeoTIFFDataset(filepath=str(path)).load()

    def test_raster_without_crs(self, make_raster):
        with pytest.raises(InputError, match="no CRS"):
            GeoTIFFDataset(filepath=str(make_raster(crs=None))).load()

    def test_rotated_raster(self, make_raster):
        rotated = rasterio.Affine(0.5, 0.1, 532850.0, 0.1, -0.5, 9366850.0)
        with pytest.raises(InputError, match="rotation"):
            GeoTIFFDataset(filepath=str(make_raster(transform=rotated))).load()

    def test_describe_and_preview(self, make_raster):
        ds = GeoTIFFDataset(filepath=str(make_raster()))
        assert "image.tif" in str(ds)
        assert len(ds.preview()) > 100  # base64 PNG

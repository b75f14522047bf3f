"""``GeoTIFFDataset``: read and write georeferenced rasters, eagerly or as a lazy handle for windowed reads."""

from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from kedro.io import AbstractDataset
from kedro_datasets._typing import ImagePreview
from rasterio.enums import MaskFlags
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError, WindowError
from rasterio.windows import Window

from footprints.atomic import atomic_path
from footprints.errors import InputError
from footprints.geo import is_rotated

# GDAL's block cache defaults to 5% of RAM and keeps every block a window read touched. The project reads each
# block about once (tiling streams windows), so a large cache only makes memory grow with the raster: 16 MB
# per process unless the environment says otherwise (GDAL reads it when the cache is first used).
os.environ.setdefault("GDAL_CACHEMAX", "16")

# Sources opened once for a whole batch of windows (see ``keep_open``); None outside such a batch.
_OPEN_SOURCES: contextvars.ContextVar[dict[Path, Any] | None] = contextvars.ContextVar("open_sources", default=None)


@contextlib.contextmanager
def keep_open() -> Iterator[None]:
    """Within the block, every ``RasterSource`` opens its file once instead of once per window.

    Opening costs about as much as reading a 512 px window, so a task reading a batch of windows keeps the
    file open for the batch. Closing drops the file's blocks from GDAL's cache, so what the cache holds is
    bounded by the batch (a few tiles), not by the raster. Per thread: Dask threads do not share handles.
    """
    opened: dict[Path, Any] = {}
    token = _OPEN_SOURCES.set(opened)
    try:
        yield
    finally:
        _OPEN_SOURCES.reset(token)
        for handle in opened.values():
            handle.close()


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """The file's handle kept by ``keep_open``, or a fresh one closed on exit (outside a batch)."""
    opened = _OPEN_SOURCES.get()
    if opened is None:
        with rasterio.open(path) as src:
            yield src
        return
    if path not in opened:
        opened[path] = rasterio.open(path)
    yield opened[path]


@dataclass
class Raster:
    """Pixels (bands x rows x cols) and the rasterio profile that places them on the map."""

    array: np.ndarray
    profile: dict[str, Any] = field(default_factory=dict)
    mask: np.ndarray | None = None  # GDAL dataset mask: 0 = no data (nodata or padding), 255 = valid

    @property
    def transform(self):
        return self.profile["transform"]

    @property
    def crs(self):
        return self.profile["crs"]


@dataclass
class RasterSource:
    """A GeoTIFF on disk, opened only for metadata; ``read`` fetches one window at a time.

    Reading window by window is what keeps tiling memory flat however large the raster is.
    """

    path: Path
    profile: dict[str, Any]

    def read(self, window: Window | None = None) -> Raster:
        """Pixels and validity mask of a window, padded with nodata (mask 0) past the raster edges.

        Only the part inside the raster is read, straight into a nodata-filled array: rasterio's boundless
        reads build a temporary VRT per call, ~7x slower and leaving heap behind that grows with the tile
        count (measured in benchmarks/tiling.py).
        """
        with _opened(self.path) as src:
            window = window or Window(0, 0, src.width, src.height)
            fill = src.nodata if src.nodata is not None else 0
            array = np.full((src.count, int(window.height), int(window.width)), fill, dtype=src.dtypes[0])
            mask = np.zeros(array.shape[1:], dtype=np.uint8)
            inside = _inside(window, src.width, src.height)
            if inside is not None:
                top, left = int(inside.row_off - window.row_off), int(inside.col_off - window.col_off)
                rows, cols = slice(top, top + int(inside.height)), slice(left, left + int(inside.width))
                array[:, rows, cols], mask[rows, cols] = _decoded(src, inside, self.path)
            transform = src.window_transform(window)
        profile = {**self.profile, "transform": transform, "height": array.shape[1], "width": array.shape[2]}
        return Raster(array, profile, mask)

    def read_overview(self, max_size: int) -> Raster:
        """The whole raster decimated so its longer side is at most ``max_size`` pixels (for plots)."""
        with rasterio.open(self.path) as src:
            scale = max(1.0, max(src.width, src.height) / max_size)
            shape = (src.count, max(1, int(src.height / scale)), max(1, int(src.width / scale)))
            array = src.read(out_shape=shape)
        return Raster(array, dict(self.profile))

    def valid_fraction(self, window: Window) -> float:
        """Share of valid (not nodata) pixels in the part of a window that lies inside the raster.

        Padding past the raster edge does not count: an edge tile holding a thin strip of real pixels is
        the only tile that sees them, so it must not be skipped for being mostly padding. The file is opened
        per call unless the caller batches windows in ``keep_open`` (which caps GDAL's block cache): a dataset
        kept open under the default cache lets the cache grow with the raster.
        """
        with _opened(self.path) as src:
            if _all_valid(src):
                return 1.0
            inside = window.intersection(Window(0, 0, src.width, src.height))
            mask = src.dataset_mask(window=inside)
        return float(np.count_nonzero(mask)) / mask.size


def _decoded(src, window: Window, path: Path) -> tuple[np.ndarray, np.ndarray | int]:
    """Pixels and validity mask of a window inside the raster; a block that cannot be decoded (a damaged
    compressed block, which opening the file does not notice) is one ``InputError`` naming file and place."""
    try:
        return src.read(window=window), 255 if _all_valid(src) else src.dataset_mask(window=window)
    except RasterioIOError as err:
        rows, cols = int(window.row_off), int(window.col_off)
        raise InputError(f"{path}: pixels in rows {rows}-{rows + int(window.height)}, columns {cols}-"
                         f"{cols + int(window.width)} cannot be decoded, the file is damaged "
                         f"({_first_line(err.__cause__ or err)}); copy or export it again, or move it out of "
                         "the images folder") from None


def _all_valid(src) -> bool:
    """No nodata value, mask band or alpha on any band: every pixel is data, and reading the dataset mask
    (which GDAL computes by reading the pixel blocks) would only cost time and block cache."""
    return all(flags == [MaskFlags.all_valid] for flags in src.mask_flag_enums)


def _inside(window: Window, width: int, height: int) -> Window | None:
    """The part of a window that lies inside a raster of the given size (None when they do not meet)."""
    try:
        return window.intersection(Window(0, 0, width, height))
    except WindowError:
        return None


def open_profile(path: Path) -> dict[str, Any]:
    """The profile of a GeoTIFF, or one clear ``InputError`` naming the file when it cannot be used."""
    try:
        with warnings.catch_warnings():  # "not georeferenced" is said below, in one line naming the file
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                profile = dict(src.profile)
                profile.update(width=src.width, height=src.height, count=src.count, bounds=tuple(src.bounds),
                           tags=src.tags())
                driver, has_gcps = src.driver, bool(src.gcps[0])
                _check_last_pixel(src, path)
    except RasterioIOError as err:
        raise InputError(f"{path}: cannot read as a GeoTIFF ({_first_line(err)}); "
                         "check the file is a complete GeoTIFF") from None
    if driver != "GTiff":
        raise InputError(f"{path}: is a {driver} file, not a GeoTIFF; convert it with gdal_translate")
    if profile["transform"].is_identity:
        if has_gcps:
            raise InputError(f"{path}: raster is georeferenced by ground control points only; warp it to a "
                             "north-up grid (gdalwarp -t_srs EPSG:XXXX) first")
        raise InputError(f"{path}: raster has no geotransform (pixel coordinates only); georeference it "
                         "(gdal_translate -a_ullr / gdalwarp) first")
    if profile.get("crs") is None:
        raise InputError(f"{path}: raster has no CRS; assign one (gdal_edit.py -a_srs EPSG:XXXX) and re-run")
    if is_rotated(profile["transform"]):
        raise InputError(f"{path}: raster has rotation terms in its geotransform; warp it to a north-up grid "
                         "(gdalwarp) first")
    return profile


def _check_last_pixel(src, path: Path) -> None:
    """Read the bottom-right pixel, stored last: a truncated file fails here, before any tile is written."""
    if not src.count:
        return
    try:
        src.read(1, window=Window(src.width - 1, src.height - 1, 1, 1))
    except RasterioIOError as err:
        raise InputError(f"{path}: pixel data cannot be read, the file is truncated or corrupt "
                         f"({_first_line(err.__cause__ or err)}); copy or export it again") from None


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


class GeoTIFFDataset(AbstractDataset[Raster, Raster | RasterSource]):
    """A georeferenced GeoTIFF: loads ``Raster`` (pixels + profile) or, with ``lazy: true``, a
    ``RasterSource`` handle for windowed reads; saves a ``Raster`` atomically (temp file + rename).

    Example catalog entries::

        raw_images:
          type: partitions.PartitionedDataset
          path: data/01_raw/images
          filename_suffix: .tif
          dataset:
            type: footprints.datasets.raster.GeoTIFFDataset
            lazy: true

        one_tile:
          type: footprints.datasets.raster.GeoTIFFDataset
          filepath: data/02_intermediate/tiles/tanzania_sample_r00000_c00000.tif
          save_args: {compress: deflate}

    Example in Python::

        ds = GeoTIFFDataset(filepath="tile.tif")
        ds.save(Raster(array, profile))
        raster = ds.load()
    """

    DEFAULT_SAVE_ARGS: dict[str, Any] = {"compress": "deflate", "tiled": True, "blockxsize": 256,
                                         "blockysize": 256}

    def __init__(self, *, filepath: str, lazy: bool = False, save_args: dict[str, Any] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._lazy = lazy
        self._save_args = {**self.DEFAULT_SAVE_ARGS, **(save_args or {})}
        self.metadata = metadata

    def load(self) -> Raster | RasterSource:
        profile = open_profile(self._filepath)
        source = RasterSource(self._filepath, profile)
        return source if self._lazy else source.read()

    def save(self, data: Raster) -> None:
        profile = {k: v for k, v in data.profile.items() if k not in {"bounds", "blockxsize", "blockysize",
                                                                      "tiled", "compress", "interleave", "tags",
                                                                      "photometric"}}
        count, height, width = data.array.shape
        profile.update(driver="GTiff", count=count, height=height, width=width, dtype=data.array.dtype.name)
        args = dict(self._save_args)
        if min(height, width) < max(args.get("blockxsize", 0), args.get("blockysize", 0)):
            args.update(tiled=False)
            args.pop("blockxsize", None)
            args.pop("blockysize", None)
        with atomic_path(self._filepath) as tmp:
            with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(tmp, "w", **profile, **args) as dst:
                dst.write(data.array)
                dst.update_tags(**data.profile.get("tags", {}))
                if data.mask is not None and not data.mask.all():
                    dst.write_mask(data.mask)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "lazy": self._lazy, "save_args": self._save_args}

    def preview(self) -> ImagePreview:
        """A small RGB quick-look of the raster for kedro-viz (decimated read, first three bands)."""
        return ImagePreview(quicklook_png(self._filepath))


class GeoTIFFTagsDataset(AbstractDataset[None, dict[str, str]]):
    """The metadata tags of a GeoTIFF, read without checking or reading its pixels: what deciding whether a
    tile on disk can be kept needs (``footprints.tiling`` tags each tile with its source and window).

    A file GDAL cannot open gives ``{}``: no tags prove it, so the tile is made again. Read-only.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, str]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(self._filepath) as src:
                    return src.tags()
        except RasterioIOError:
            return {}

    def save(self, data: None) -> None:
        raise NotImplementedError(f"{type(self).__name__} is read-only ({self._filepath})")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


def quicklook_png(path: Path, size: int = 256) -> str:
    """Base64 PNG of the first three bands (or the first one in grey), 2-98 % stretch, read decimated."""
    import base64
    import io

    import matplotlib.pyplot as plt

    bands = RasterSource(path, {}).read_overview(size).array[:3].astype(float)
    rgb = stretch(bands)
    buffer = io.BytesIO()
    plt.imsave(buffer, rgb if rgb.shape[2] == 3 else rgb[..., 0], format="png", cmap="gray")
    return base64.b64encode(buffer.getvalue()).decode()


def stretch(bands: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Bands (C x H x W) to an H x W x C float image in [0, 1], 2-98 % percentile stretch per band.

    Percentiles come from valid pixels only (``mask`` > 0) so padding does not wash out an edge tile.
    """
    valid = np.ones(bands.shape[1:], bool) if mask is None or not mask.any() else mask > 0
    out = np.zeros(bands.shape[1:] + (bands.shape[0],), dtype=float)
    for i, band in enumerate(bands):
        lo, hi = np.percentile(band[valid], [2, 98])
        out[..., i] = np.where(valid, np.clip((band - lo) / max(hi - lo, 1e-9), 0, 1), 0)
    return out

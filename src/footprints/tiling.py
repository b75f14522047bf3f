"""Per-raster work of tiling, in tasks that ship paths and windows (never pixels) to Dask workers.

The preprocessing node plans the grid and the index; these functions are what grows with the imagery: hashing
each raster, measuring the valid share of every window (a block of windows per task, the file opened once per
block), and reading the tiles that ``TileImagesDataset`` writes in batches.
"""

from __future__ import annotations

import hashlib
from functools import partial

from rasterio.windows import Window

from footprints.datasets.raster import Raster, RasterSource, keep_open
from footprints.distributed import chunks, run_tasks
from footprints.geo import TileSpec

SOURCE_TAG, WINDOW_TAG = "FOOTPRINTS_SOURCE_SHA256", "FOOTPRINTS_WINDOW"
WINDOWS_PER_TASK = 256  # valid-fraction windows per task: a block of a very large raster


def read_tile(source: RasterSource, spec: TileSpec, digest: str) -> Raster:
    """Pixels of one tile, padded with nodata past the image edge, with the tile's own transform.

    The tile records the content hash of its raster and its window, so a re-run can trust it.
    """
    raster = source.read(spec.window)
    raster.profile["tags"] = {SOURCE_TAG: digest, WINDOW_TAG: window_text(spec)}
    return raster


def window_text(spec: TileSpec) -> str:
    return f"{spec.col_off},{spec.row_off},{spec.size}"


def file_sha256(source: RasterSource, chunk: int = 1 << 22) -> str:
    """Content hash of a raster file, kept in the tile index so unchanged images can be recognised."""
    digest = hashlib.sha256()
    with open(source.path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def valid_fractions(block: tuple[RasterSource, list[Window]]) -> list[float]:
    """``RasterSource.valid_fraction`` of each window of one block, the file opened once for the block."""
    source, windows = block
    with keep_open():
        return [source.valid_fraction(window) for window in windows]


def measure_images(sources: dict[str, RasterSource], specs: dict[str, list[TileSpec]]
                   ) -> tuple[dict[str, str], dict[str, list[float]]]:
    """Content hash of every raster and valid fraction of every planned tile, submitted together as tasks on
    the run's cluster: one per raster for the hash, one per block of ``WINDOWS_PER_TASK`` windows."""
    image_ids = sorted(sources)
    blocks = [(image_id, part) for image_id in image_ids for part in chunks(specs[image_id], WINDOWS_PER_TASK)]
    calls = [partial(file_sha256, sources[image_id]) for image_id in image_ids]
    calls += [partial(valid_fractions, (sources[image_id], [s.window for s in part])) for image_id, part in blocks]
    results = run_tasks(calls, desc="measuring rasters")
    digests = dict(zip(image_ids, results[:len(image_ids)], strict=True))
    fractions: dict[str, list[float]] = {image_id: [] for image_id in image_ids}
    for (image_id, _), values in zip(blocks, results[len(image_ids):], strict=True):
        fractions[image_id].extend(values)
    return digests, fractions

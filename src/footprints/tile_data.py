"""Tile pixels and band checks shared by training and inference (numpy only: importing it loads no torch)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from footprints.datasets.raster import Raster
from footprints.errors import InputError

NODATA = float("nan")  # see tile_pixels


def tile_pixels(load: Callable[[], Raster]) -> np.ndarray:
    """Tile pixels as float32 with NaN where the tile's mask says no data (nodata or padding past the edge).

    NaN is the nodata value handed to the model's normaliser, which sets those pixels to 0 (the data mean),
    whether the raster declares a nodata value or only a GDAL mask; prediction also clips masks to non-NaN
    pixels, so nothing is ever detected in padding.
    """
    raster = load()
    pixels = raster.array.astype(np.float32)
    if raster.mask is not None:
        pixels[:, raster.mask == 0] = np.nan
    return pixels


def image_shapes(tiles: dict[str, Callable[[], Raster]], rows: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """``image_id -> (band count, tile size)``, read off one tile per image (an image's tiles share both)."""
    shapes = {}
    for image_id, tile_id in rows.groupby("image_id").tile_id.first().items():
        count, _, width = tiles[tile_id]().array.shape
        shapes[image_id] = (count, width)
    return shapes


def check_training_bands(shapes: dict[str, tuple[int, int]], bands: list[int]) -> int:
    """The tile size, or an InputError when ``training.bands`` asks for a band an image lacks."""
    if lacking := _lacking_bands(shapes, bands):
        image_id, count = lacking
        raise InputError(f"training.bands {list(bands)} asks for band {max(bands)} but image {image_id} has "
                         f"{count} band(s): set training.bands (and its mean/std) in "
                         "conf/base/parameters_training.yml")
    sizes = {size for _, size in shapes.values()}
    return sizes.pop() if sizes else 0


def check_model_bands(shapes: dict[str, tuple[int, int]], bands: list[int]) -> None:
    """A trained model cannot change its bands: name the image that lacks them and what would fit."""
    if lacking := _lacking_bands(shapes, bands):
        image_id, count = lacking
        raise InputError(f"model trained on {len(bands)} band(s) {list(bands)}, this image ({image_id}) has "
                         f"{count}: predict imagery with those bands, or train a model on {count}-band imagery")


def _lacking_bands(shapes: dict[str, tuple[int, int]], bands: list[int]) -> tuple[str, int] | None:
    """The first image with fewer bands than ``bands`` asks for, and its band count; None when all have them."""
    return next(((image_id, count) for image_id, (count, _) in shapes.items() if max(bands) > count), None)

"""Train/validation split of tiles without leaks (plain Python: the labels pipeline uses it without torch)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def split_train_val(
    tiles: Iterable[Mapping[str, Any]], val_fraction: float, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split tile ids into train and validation so that no pixel is in both.

    ``tiles`` are tile-index records with ``tile_id``, ``image_id``, ``row_off``, ``col_off``, ``tile_size``
    (e.g. ``df.to_dict("records")``). With two or more images, whole images are held out (seeded shuffle),
    adding images until ``val_fraction`` of the tiles is reached and leaving at least one for training.
    With one image, the last rows (or columns, whichever axis has more tiles) are held out, and every
    training tile that shares pixels with a held-out tile (tiles overlap) is dropped: a random tile split
    would put the same buildings on both sides and flatter the validation score.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    tiles = list(tiles)
    image_ids = sorted({tile["image_id"] for tile in tiles})
    if len(image_ids) >= 2:
        val_images = _held_out_images(tiles, image_ids, val_fraction, seed)
        val = [tile for tile in tiles if tile["image_id"] in val_images]
        train = [tile for tile in tiles if tile["image_id"] not in val_images]
    else:
        val = _held_out_block(tiles, val_fraction)
        val_ids, val_windows = {tile["tile_id"] for tile in val}, _pixel_windows(val)
        train = [
            tile for tile in tiles if tile["tile_id"] not in val_ids and not _overlaps_any(tile, val_windows)
        ]
        if not train:
            raise ValueError(
                f"image {image_ids[0] if image_ids else '?'} has too few tiles ({len(tiles)}) to hold out "
                f"{val_fraction:.0%} without sharing pixels with training; add an image or use more tiles"
            )
    return [tile["tile_id"] for tile in train], [tile["tile_id"] for tile in val]


def _held_out_images(
    tiles: list[Mapping[str, Any]], image_ids: list[str], val_fraction: float, seed: int
) -> set[str]:
    """Whole images for validation: shuffled by ``seed``, added until they hold ``val_fraction`` of tiles."""
    tiles_per_image = Counter(tile["image_id"] for tile in tiles)
    order = list(image_ids)
    random.Random(seed).shuffle(order)
    held_out: set[str] = set()
    for image_id in order[:-1]:  # the last one always stays in training
        held_out.add(image_id)
        if sum(tiles_per_image[i] for i in held_out) >= val_fraction * len(tiles):
            break
    return held_out


def _held_out_block(tiles: list[Mapping[str, Any]], val_fraction: float) -> list[Mapping[str, Any]]:
    """The tiles in the last ``val_fraction`` of tile rows (or columns, if there are more columns)."""
    rows = sorted({tile["row_off"] for tile in tiles})
    cols = sorted({tile["col_off"] for tile in tiles})
    axis, offsets = ("row_off", rows) if len(rows) >= len(cols) else ("col_off", cols)
    if len(offsets) < 2:
        raise ValueError(f"{len(tiles)} tile(s) in a single image cannot be split into train and validation")
    held = min(max(1, round(val_fraction * len(offsets))), len(offsets) - 1)
    first_held = offsets[-held]
    return [tile for tile in tiles if tile[axis] >= first_held]


def _pixel_windows(tiles: list[Mapping[str, Any]]) -> np.ndarray:
    """``first_row, end_row, first_col, end_col`` per tile, as one array so overlap tests are vectorised."""
    return np.array(
        [
            (t["row_off"], t["row_off"] + t["tile_size"], t["col_off"], t["col_off"] + t["tile_size"])
            for t in tiles
        ]
    ).reshape(-1, 4)


def _overlaps_any(tile: Mapping[str, Any], windows: np.ndarray) -> bool:
    """Whether the tile's pixel window intersects any of ``windows``."""
    ((row0, row1, col0, col1),) = _pixel_windows([tile])
    rows_meet = (row0 < windows[:, 1]) & (windows[:, 0] < row1)
    cols_meet = (col0 < windows[:, 3]) & (windows[:, 2] < col1)
    return bool((rows_meet & cols_meet).any())

"""Train/validation split of tiles without leaks (plain Python: the labels pipeline uses it without torch)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def split_train_val(
    tiles: Iterable[Mapping[str, Any]],
    val_fraction: float,
    seed: int = 0,
    val_images: Sequence[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Split tile ids into train and validation so that no pixel is in both.

    ``tiles`` are tile-index records with ``tile_id``, ``image_id``, ``row_off``, ``col_off``, ``tile_size``
    and optionally ``valid_fraction`` (e.g. ``df.to_dict("records")``). ``val_images`` names the images to
    hold out (a benchmark's fixed test area); otherwise, with two or more images, whole images are held out
    (seeded shuffle), adding images until ``val_fraction`` of the tiles is reached and leaving at least one for
    training. With one image, a block of tile rows or columns at one edge is held out, and every training tile
    that shares pixels with a held-out tile (tiles overlap) is dropped: a random tile split would put the same
    buildings on both sides and flatter the validation score.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    tiles = list(tiles)
    image_ids = sorted({tile["image_id"] for tile in tiles})
    if val_images:
        unknown = sorted(set(val_images) - set(image_ids))
        if unknown or set(val_images) >= set(image_ids):
            raise ValueError(f"val_images {list(val_images)} must name labelled images ({image_ids}) and leave one "
                             f"for training{f'; unknown: {unknown}' if unknown else ''}")
        val_set = set(val_images)
    elif len(image_ids) >= 2:
        val_set = _held_out_images(tiles, image_ids, val_fraction, seed)
    else:
        return _split_one_image(tiles, val_fraction, image_ids[0] if image_ids else "?")
    val = [tile["tile_id"] for tile in tiles if tile["image_id"] in val_set]
    train = [tile["tile_id"] for tile in tiles if tile["image_id"] not in val_set]
    return train, val


def _split_one_image(tiles: list[Mapping[str, Any]], val_fraction: float, image_id: str
                     ) -> tuple[list[str], list[str]]:
    """Hold out the edge block of rows or columns that leaves the most image content to train on.

    Content is the tiles' ``valid_fraction`` (1 when absent): edge tiles past the image border are mostly
    padding, so holding out the last row of a small image would validate on almost no image.
    """
    best: tuple[float, list, list] | None = None
    for axis in ("row_off", "col_off"):
        for from_end in (True, False):
            val = _held_out_block(tiles, axis, from_end, val_fraction)
            if val is None:
                continue
            val_ids, windows = {tile["tile_id"] for tile in val}, _pixel_windows(val)
            train = [t for t in tiles if t["tile_id"] not in val_ids and not _overlaps_any(t, windows)]
            content = sum(_content(tile) for tile in train)
            if train and (best is None or content > best[0]):
                best = (content, train, val)
    if best is None:
        if len({(tile["row_off"], tile["col_off"]) for tile in tiles}) < 2:
            raise ValueError(f"{len(tiles)} tile(s) in a single image cannot be split into train and validation")
        raise ValueError(
            f"image {image_id} has too few tiles ({len(tiles)}) to hold out {val_fraction:.0%} without sharing "
            "pixels with training; add an image or use more tiles"
        )
    return [tile["tile_id"] for tile in best[1]], [tile["tile_id"] for tile in best[2]]


def _content(tile: Mapping[str, Any]) -> float:
    return float(tile.get("valid_fraction", 1.0))


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


def _held_out_block(tiles: list[Mapping[str, Any]], axis: str, from_end: bool, val_fraction: float
                    ) -> list[Mapping[str, Any]] | None:
    """The fewest whole rows (or columns) at one edge holding ``val_fraction`` of the image content."""
    offsets = sorted({tile[axis] for tile in tiles}, reverse=from_end)
    if len(offsets) < 2:
        return None
    content = Counter()
    for tile in tiles:
        content[tile[axis]] += _content(tile)
    total, held, taken = sum(content.values()), 0.0, []
    for offset in offsets[:-1]:  # one row or column always stays for training
        taken.append(offset)
        held += content[offset]
        if held >= val_fraction * total:
            break
    chosen = set(taken)
    return [tile for tile in tiles if tile[axis] in chosen]


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

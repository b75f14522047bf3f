"""Train/validation split: no pixel on both sides, whole images when there are several."""

from __future__ import annotations

import numpy as np
import pytest

from footprints.model import split_train_val


def _grid(image_id: str, rows: int, cols: int, tile_size: int = 64, overlap: int = 16) -> list[dict]:
    stride = tile_size - overlap
    return [
        {
            "tile_id": f"{image_id}_{r}_{c}",
            "image_id": image_id,
            "row_off": r * stride,
            "col_off": c * stride,
            "tile_size": tile_size,
        }
        for r in range(rows)
        for c in range(cols)
    ]


def _coverage(tiles: list[dict], ids: list[str]) -> np.ndarray:
    covered = np.zeros((1000, 1000), bool)
    for tile in tiles:
        if tile["tile_id"] in ids:
            size = tile["tile_size"]
            covered[tile["row_off"] : tile["row_off"] + size, tile["col_off"] : tile["col_off"] + size] = True
    return covered


@pytest.mark.parametrize(("rows", "cols"), [(8, 6), (3, 9)])
def test_single_image_split_shares_no_pixel(rows, cols):
    tiles = _grid("a", rows, cols)
    train, val = split_train_val(tiles, val_fraction=0.25, seed=1)
    assert train and val and not set(train) & set(val)
    assert not (_coverage(tiles, train) & _coverage(tiles, val)).any()
    assert 0.15 <= len(val) / len(tiles) <= 0.4


def test_several_images_are_split_whole():
    tiles = _grid("a", 4, 4) + _grid("b", 3, 3) + _grid("c", 5, 2) + _grid("d", 2, 2)
    image_of = {tile["tile_id"]: tile["image_id"] for tile in tiles}
    train, val = split_train_val(tiles, val_fraction=0.3, seed=7)
    assert {image_of[t] for t in train}.isdisjoint({image_of[t] for t in val})
    assert sorted(train + val) == sorted(image_of)  # with whole images no tile needs dropping
    assert split_train_val(list(reversed(tiles)), val_fraction=0.3, seed=7)[1] == list(reversed(val))


def test_two_images_give_one_to_each_side():
    tiles = _grid("a", 2, 2) + _grid("b", 2, 2)
    train, val = split_train_val(tiles, val_fraction=0.9)
    assert len({t[0] for t in train}) == len({t[0] for t in val}) == 1


def test_an_image_too_small_to_split_says_so():
    with pytest.raises(ValueError, match="cannot be split"):
        split_train_val(_grid("a", 1, 1), val_fraction=0.2)
    with pytest.raises(ValueError, match="too few tiles"):
        split_train_val(_grid("a", 2, 2), val_fraction=0.2)  # row 0 overlaps row 1, so nothing is left


def test_single_image_validates_on_image_not_padding():
    """The shipped sample's layout: 1000 px in 512 px tiles with 64 px overlap; the last row and column are
    104 px of image and 408 px of padding. The held-out block must be image, and training keeps some too."""
    tiles = [tile | {"valid_fraction": (min(512, 1000 - tile["row_off"]) * min(512, 1000 - tile["col_off"]))
                     / 512**2} for tile in _grid("sample", 3, 3, tile_size=512, overlap=64)]
    content = {tile["tile_id"]: tile["valid_fraction"] for tile in tiles}
    train, val = split_train_val(tiles, val_fraction=0.25)
    assert train and sum(content[t] for t in val) / len(val) > 0.5  # today's last row: 0.15
    assert not (_coverage(tiles, train) & _coverage(tiles, val)).any()


def test_named_images_are_held_out():
    tiles = _grid("a", 2, 2) + _grid("b", 2, 2) + _grid("c", 2, 2)
    train, val = split_train_val(tiles, val_fraction=0.5, val_images=["b"])
    assert {t[0] for t in val} == {"b"} and {t[0] for t in train} == {"a", "c"}
    with pytest.raises(ValueError, match="unknown"):
        split_train_val(tiles, val_fraction=0.5, val_images=["z"])

"""Dataset: augmentation keeps image, masks and boxes together; empty tiles, nodata and bad labels behave."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from model_helpers import RECTANGLES, RGB_MEAN, RGB_STD, TILE, sample, synthetic_tile

from footprints.model import Normalizer, TileDataset, boxes_from_masks
from footprints.model.augment import dihedral

# one rectangle: rows 10..19, cols 30..59 (end-exclusive 20, 60)
R0, R1, C0, C1 = 10, 20, 30, 60


def _rectangle() -> tuple[torch.Tensor, torch.Tensor]:
    masks = torch.zeros((1, TILE, TILE), dtype=torch.uint8)
    masks[0, R0:R1, C0:C1] = 1
    return masks[:1].float() * 5, masks  # the image is the mask, scaled


@pytest.mark.parametrize(
    ("quarter_turns", "flip", "expected_box"),
    [
        (0, False, (C0, R0, C1, R1)),
        (0, True, (TILE - C1, R0, TILE - C0, R1)),  # mirror left-right
        (2, True, (C0, TILE - R1, C1, TILE - R0)),  # half turn + mirror = upside down
        (1, False, (R0, TILE - C1, R1, TILE - C0)),  # quarter turn counter-clockwise: top edge goes left
        (3, False, (TILE - R1, C0, TILE - R0, C1)),  # quarter turn clockwise: top edge goes right
    ],
)
def test_dihedral_moves_a_rectangle_where_it_should(quarter_turns, flip, expected_box):
    image, masks = _rectangle()
    image, masks = dihedral(image, masks, quarter_turns, flip)
    assert boxes_from_masks(masks)[0].tolist() == list(expected_box)
    assert torch.equal(image[0], masks[0].float() * 5)


def test_augmented_items_keep_each_building_under_its_mask_and_box():
    dataset = TileDataset([sample()], bands=[1, 2, 3], mean=RGB_MEAN, std=RGB_STD, augment=True)
    greys = {class_id: grey for _, _, class_id, grey in RECTANGLES}
    torch.manual_seed(0)
    seen, colours = set(), set()
    for _ in range(12):
        image, target = dataset[0]
        seen.add(tuple(target["boxes"][0].tolist()))
        under = {int(label): image[0][mask.bool()] for mask, label in zip(target["masks"], target["labels"])}
        for mask, box, label in zip(target["masks"], target["boxes"], target["labels"], strict=True):
            # each flat grey building is still flat under its own mask (colours change, places do not)...
            assert torch.allclose(under[int(label)], under[int(label)][0])
            assert torch.equal(box, boxes_from_masks(mask[None])[0])
        # ... and the buildings keep their order of brightness
        assert sorted(under, key=lambda c: float(under[c][0])) == sorted(greys, key=greys.get)
        colours.add(round(float(under[1][0]), 4))
    assert len(seen) > 2 and len(colours) > 2  # the flips/turns and the colours really vary


def test_tile_without_buildings_gives_empty_targets():
    empty = sample(masks=np.zeros((0, TILE, TILE), np.uint8), class_ids=np.zeros(0, int))
    image, target = TileDataset([empty], [1, 2, 3], RGB_MEAN, RGB_STD, augment=True)[0]
    assert image.shape == (3, TILE, TILE)
    assert target["boxes"].shape == (0, 4) and target["boxes"].dtype == torch.float32
    assert target["masks"].shape == (0, TILE, TILE)
    assert target["labels"].shape == (0,) and target["labels"].dtype == torch.int64


def test_instances_with_empty_masks_are_dropped():
    _, masks, class_ids = synthetic_tile()
    masks[1] = 0  # e.g. a building clipped away at the tile edge
    _, target = TileDataset([sample(masks=masks)], [1, 2, 3], RGB_MEAN, RGB_STD)[0]
    assert target["labels"].tolist() == [class_ids[0], class_ids[2]]
    assert len(target["masks"]) == len(target["boxes"]) == 2


def test_bad_class_ids_are_named_with_the_tile():
    with pytest.raises(ValueError, match=r"tile t0: class ids must be 1\.\.3"):
        TileDataset([sample(class_ids=np.array([1, 4, 2]))], [1, 2, 3], RGB_MEAN, RGB_STD)[0]


def test_normalizer_selects_bands_and_zeroes_nodata():
    image = np.stack([np.full((4, 4), 10), np.full((4, 4), 20), np.full((4, 4), 30)]).astype(np.uint16)
    image[:, 0, 0] = 0  # nodata in every band
    image[0, 1, 1] = 0  # a real pixel that is dark in one band only
    scaled = Normalizer(bands=[3, 1], mean=[30, 0], std=[2, 5])(image, nodata=0)
    assert scaled.dtype == torch.float32 and scaled.shape == (2, 4, 4)
    assert scaled[:, 0, 0].tolist() == [0.0, 0.0]
    assert scaled[:, 1, 1].tolist() == [0.0, 0.0]  # (30-30)/2 and (0-0)/5: kept, not masked
    assert scaled[:, 2, 2].tolist() == [0.0, 2.0]


def test_dataset_pickles_for_dataloader_workers():
    dataset = TileDataset([sample()], [1, 2, 3], RGB_MEAN, RGB_STD, augment=True)
    image, target = pickle.loads(pickle.dumps(dataset))[0]
    assert image.shape == (3, TILE, TILE) and len(target["boxes"]) == len(RECTANGLES)

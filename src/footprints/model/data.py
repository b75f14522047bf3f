"""Tiles as a torch Dataset in torchvision's detection format (the train/validation split is in ``split``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import random_colour, random_dihedral
from footprints.classes import CLASS_NAMES
from .normalize import Normalizer

Target = dict[str, torch.Tensor]


@dataclass(frozen=True)
class TileSample:
    """One tile, loaded lazily so a Dataset of thousands of tiles costs no memory until read.

    ``load_image`` returns ``bands x H x W``; ``load_target`` returns ``(masks, class_ids)``: uint8
    ``N x H x W`` and int ``N`` with 1=complete, 2=incomplete, 3=foundation. Give module-level functions or
    ``functools.partial`` of them so DataLoader workers can pickle the sample.
    """

    tile_id: str
    load_image: Callable[[], np.ndarray]
    load_target: Callable[[], tuple[np.ndarray, np.ndarray]]
    nodata: float | None = None


class TileDataset(Dataset):
    """Yield ``(image, target)`` as torchvision's Mask R-CNN wants them: target has boxes, labels, masks.

    Tiles without buildings are kept (zero boxes): they teach the model what is not a building. Masks are
    cut to the tile's valid pixels: a label lying wholly on nodata drops out (it would teach the model to
    find buildings in blank padding).
    """

    def __init__(
        self,
        samples: Sequence[TileSample],
        bands: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        augment: bool = False,
    ) -> None:
        self.samples = list(samples)
        self.normalizer = Normalizer(bands, mean, std)
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Target]:
        sample = self.samples[index]
        raw = sample.load_image()
        image = self.normalizer(raw, sample.nodata)
        masks, labels = _target_tensors(sample, image.shape[-2:])
        if sample.nodata is not None:  # a label on nodata pixels (NaN, a mosaic's empty corner) shows nothing
            masks = masks * torch.from_numpy(self.normalizer.valid(raw, sample.nodata)).to(masks.dtype)
        if self.augment:
            image, masks = random_dihedral(image, masks)
            image = random_colour(image)
        present = masks.flatten(1).any(dim=1).bool()  # any() of a uint8 tensor is uint8, not a mask
        masks, labels = masks[present], labels[present]
        return image, {"boxes": boxes_from_masks(masks), "labels": labels, "masks": masks}


def _target_tensors(sample: TileSample, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Check instances against the image and the class ids: bad labels fail here, named, not in the loss."""
    masks, class_ids = sample.load_target()
    masks = np.asarray(masks, dtype=np.uint8).reshape(-1, *size) if np.size(masks) == 0 else np.asarray(masks)
    class_ids = np.asarray(class_ids).reshape(-1)
    if masks.ndim != 3 or tuple(masks.shape[1:]) != tuple(size) or len(masks) != len(class_ids):
        raise ValueError(
            f"tile {sample.tile_id}: masks {masks.shape} and class_ids {class_ids.shape} "
            f"do not fit image {tuple(size)}"
        )
    if len(class_ids) and not np.isin(class_ids, np.arange(1, len(CLASS_NAMES) + 1)).all():
        raise ValueError(
            f"tile {sample.tile_id}: class ids must be 1..{len(CLASS_NAMES)}, got {np.unique(class_ids)}"
        )
    return torch.from_numpy((masks > 0).astype(np.uint8)), torch.from_numpy(class_ids.astype(np.int64))


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """Boxes ``x0, y0, x1, y1`` around each mask, on pixel edges (a one-pixel mask gets a 1 x 1 box).

    torchvision's ``masks_to_boxes`` returns pixel centres, so a one-pixel-wide building would get a
    zero-width box, which Mask R-CNN rejects in training.
    """
    if masks.shape[0] == 0:
        return torch.zeros((0, 4), dtype=torch.float32)
    rows = masks.any(dim=2).to(torch.uint8)  # N x H: which rows hold the mask
    cols = masks.any(dim=1).to(torch.uint8)  # N x W
    y0, x0 = rows.argmax(dim=1), cols.argmax(dim=1)
    y1 = rows.shape[1] - rows.flip(1).argmax(dim=1)
    x1 = cols.shape[1] - cols.flip(1).argmax(dim=1)
    return torch.stack([x0, y0, x1, y1], dim=1).to(torch.float32)


def collate_fn(
    batch: Sequence[tuple[torch.Tensor, Target]],
) -> tuple[tuple[torch.Tensor, ...], tuple[Target, ...]]:
    """Keep images and targets as tuples: Mask R-CNN takes a list of images that need not share a size."""
    return tuple(zip(*batch, strict=True))

"""Flips and right-angle rotations (aerial tiles have no "up", so all eight are equally real views) and
colour changes (imagery of another camera, season or hour)."""

from __future__ import annotations

import torch


def dihedral(
    image: torch.Tensor, masks: torch.Tensor, quarter_turns: int, flip: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn image (C x H x W) and masks (N x H x W) ``quarter_turns`` x 90° counter-clockwise, then mirror.

    Both get the very same transform, so masks stay on their buildings; boxes are recomputed from the masks
    afterwards rather than transformed, which cannot drift by a pixel.
    """
    image = torch.rot90(image, quarter_turns, dims=(-2, -1))
    masks = torch.rot90(masks, quarter_turns, dims=(-2, -1))
    if flip:
        image, masks = image.flip(-1), masks.flip(-1)
    return image, masks


def random_dihedral(image: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one of the eight flips/rotations, uniformly (4 turns x mirror or not: vertical flips too).

    Uses torch's RNG, which DataLoader seeds differently in each worker (numpy's would repeat across workers).
    """
    quarter_turns = int(torch.randint(4, ()))
    flip = bool(torch.randint(2, ()))
    return dihedral(image, masks, quarter_turns, flip)


def random_colour(image: torch.Tensor, strength: float = 0.2) -> torch.Tensor:
    """Scale and shift a normalised image (C x H x W), all bands alike and each a little on its own.

    Drone mosaics differ in exposure, white balance and haze from flight to flight; a model trained on a few
    of them should not learn their colours. ``strength`` is in units of the bands' standard deviation.
    """
    bands = image.shape[0]
    contrast = 1 + strength * (2 * torch.rand(()) - 1) + strength / 4 * (2 * torch.rand(bands, 1, 1) - 1)
    brightness = strength * (2 * torch.rand(()) - 1) + strength / 4 * (2 * torch.rand(bands, 1, 1) - 1)
    return image * contrast + brightness

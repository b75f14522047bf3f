"""Build the Mask R-CNN and start it from COCO or from our own weights."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection import (
    MaskRCNN,
    MaskRCNN_ResNet50_FPN_V2_Weights,
    MaskRCNN_ResNet50_FPN_Weights,
    maskrcnn_resnet50_fpn_v2,
)
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops import FrozenBatchNorm2d

from .compact import COMPACT_ARCH, compact_maskrcnn

from footprints.classes import NUM_CLASSES
from .roi_heads import ClassScoreRoIHeads
from .weights import WeightsError, load_weights

logger = logging.getLogger(__name__)

ARCHITECTURES = (COMPACT_ARCH, "maskrcnn_resnet50_fpn_v2", "maskrcnn_resnet50_fpn")
PRETRAINED = ("auto", "coco", "none")

_COCO_WEIGHTS = {
    "maskrcnn_resnet50_fpn": MaskRCNN_ResNet50_FPN_Weights.COCO_V1,
    "maskrcnn_resnet50_fpn_v2": MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
}
# Keys that tell the architectures apart, tried in order: v1's box head is two linear layers; of the other
# two, only ResNet-50's bottleneck blocks have a third convolution.
_ARCHITECTURE_MARKERS = {
    "roi_heads.box_head.fc6.weight": "maskrcnn_resnet50_fpn",
    "backbone.body.layer1.0.conv3.weight": "maskrcnn_resnet50_fpn_v2",
    "backbone.body.layer1.0.conv2.weight": COMPACT_ARCH,
}
_CLASS_HEAD_KEY = "roi_heads.box_predictor.cls_score.weight"
_FIRST_CONV_KEY = "backbone.body.conv1.weight"


def build_model(
    arch: str = "maskrcnn_resnet50_fpn_v2",
    num_classes: int = NUM_CLASSES,
    tile_size: int = 512,
    pretrained: str = "auto",
    weights_path: str | os.PathLike | None = None,
    trainable_backbone_layers: int | None = None,
    in_channels: int = 3,
    state_dict: dict[str, torch.Tensor] | None = None,
    weights_name: str | None = None,
    input_scale: float = 1.0,
) -> MaskRCNN:
    """A torchvision Mask R-CNN for ``tile_size`` tiles whose detections also carry ``class_scores``.

    ``pretrained``: ``"coco"`` starts from torchvision's COCO weights (from ``$TORCH_HOME/hub/checkpoints``
    or downloaded) and raises ``WeightsError`` when they cannot be had; ``"auto"`` uses them when it can and
    otherwise logs one warning and starts from scratch; ``"none"`` starts from scratch. COCO's predictors for
    its 91 classes give way to new ones sized for ``num_classes`` (background included).
    ``weights_path``: our own safetensors state_dict (fine-tuning, resuming, predicting); it replaces the
    COCO start, so nothing is downloaded. ``trainable_backbone_layers`` (0-5, ResNet stages from the top)
    defaults to 3 when starting from trained weights, as torchvision does, and 5 from scratch.
    ``in_channels``: number of input bands; extra bands reuse COCO's first-layer RGB kernels.
    ``input_scale``: the network sees tiles resized by this factor (0.5: a 512 px tile runs at 256 px, four
    times cheaper) and its masks and boxes come back in tile pixels; for imagery much finer than buildings need.

    The transform's ``min_size = max_size = tile_size``, so tiles are neither up- nor down-scaled (a smaller
    edge tile would be upscaled), and its mean/std are 0/1 because ``Normalizer`` has already scaled the bands
    in raw pixel units (torchvision's defaults assume 3-band 0-1 images and would scale a second time).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
    if pretrained not in PRETRAINED:
        raise ValueError(f"pretrained must be one of {PRETRAINED}, got {pretrained!r}")
    own_state = load_weights(weights_path) if weights_path is not None else state_dict
    weights_name = weights_name or (Path(weights_path).name if weights_path is not None else "state_dict")
    coco_state = None
    if own_state is None and pretrained != "none":
        coco_state = _coco_state_dict(arch, required=pretrained == "coco")

    if own_state is not None:
        # A v1 started from COCO has frozen BatchNorm, which saves no num_batches_tracked: match the file.
        frozen_norms = not any(key.endswith("num_batches_tracked") for key in own_state)
    else:
        frozen_norms = coco_state is not None
    model = _skeleton(arch, num_classes, round(tile_size * input_scale), in_channels, frozen_norms)
    if own_state is not None:
        _load_own(model, own_state, weights_name, arch)
    elif coco_state is not None:
        _load_coco(model, coco_state, arch)

    if trainable_backbone_layers is None:
        trainable_backbone_layers = 5 if own_state is None and coco_state is None else 3
    _freeze_backbone(model, trainable_backbone_layers)
    # Where the weights started, for the run log, MLflow and the report: "auto" decides it only here.
    model.weights_origin = (f"fine-tuned from {weights_name}" if own_state is not None
                            else f"COCO ({_COCO_WEIGHTS[arch]})" if coco_state is not None else "scratch")
    return model


def _skeleton(arch: str, num_classes: int, tile_size: int, in_channels: int, frozen_norms: bool) -> MaskRCNN:
    """The untrained network; v1's backbone norms are frozen exactly when its weights come from COCO."""
    transform = {
        "min_size": tile_size,
        "max_size": tile_size,
        "image_mean": [0.0] * in_channels,
        "image_std": [1.0] * in_channels,
    }
    if arch == COMPACT_ARCH:
        model = compact_maskrcnn(num_classes, in_channels, **transform)
    elif arch == "maskrcnn_resnet50_fpn":
        # What torchvision's own builder does, minus its rule that only downloaded weights get frozen norms.
        norm_layer = FrozenBatchNorm2d if frozen_norms else nn.BatchNorm2d
        backbone = resnet_fpn_backbone(
            backbone_name="resnet50", weights=None, norm_layer=norm_layer, trainable_layers=5
        )
        model = MaskRCNN(backbone, num_classes=num_classes, **transform)
    else:
        model = maskrcnn_resnet50_fpn_v2(
            weights=None, weights_backbone=None, num_classes=num_classes, **transform
        )
    if in_channels != 3 and arch != COMPACT_ARCH:
        model.backbone.body.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model.roi_heads = ClassScoreRoIHeads.from_roi_heads(model.roi_heads)
    return model


def coco_cached(arch: str) -> bool:
    """Whether torchvision's COCO weights for ``arch`` are in the torch cache (nothing is downloaded)."""
    return arch in _COCO_WEIGHTS and (_coco_cache_path(arch)).is_file()


def _coco_cache_path(arch: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_COCO_WEIGHTS[arch].url).name


def _coco_state_dict(arch: str, required: bool) -> dict[str, torch.Tensor] | None:
    """torchvision's COCO weights (cache or download); if not required, ``None`` and a warning."""
    if arch not in _COCO_WEIGHTS:
        if required:
            raise WeightsError(f"torchvision has no COCO weights for {arch}; set pretrained: auto or none")
        return None
    weights = _COCO_WEIGHTS[arch]
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        cached = _coco_cache_path(arch)
        detail = str(error).splitlines()[0] if str(error) else ""
        reason = (
            f"COCO weights for {arch} are not in {cached} and could not be downloaded "
            f"({type(error).__name__}: {detail})"
        )
        if required:
            raise WeightsError(f"{reason}; put the file there or set pretrained: none") from error
        logger.warning("%s; training from scratch", reason)
        return None


def _load_coco(model: MaskRCNN, coco_state: dict[str, torch.Tensor], arch: str) -> None:
    """Load everything but the class-specific predictors, which COCO sized for its 91 classes."""
    own = model.state_dict()
    first_conv = coco_state[_FIRST_CONV_KEY]
    if own[_FIRST_CONV_KEY].shape != first_conv.shape:
        coco_state = {
            **coco_state,
            _FIRST_CONV_KEY: _widen_first_conv(first_conv, own[_FIRST_CONV_KEY].shape[1]),
        }
    fitting = {
        key: value for key, value in coco_state.items() if key in own and value.shape == own[key].shape
    }
    missing = model.load_state_dict(fitting, strict=False).missing_keys
    gaps = [
        key
        for key in missing
        if not key.startswith(("roi_heads.box_predictor.", "roi_heads.mask_predictor."))
    ]
    if gaps:
        raise WeightsError(
            f"COCO weights for {arch} lack {len(gaps)} keys beyond the class heads, e.g. {gaps[0]}"
        )


def _widen_first_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """RGB kernels cycled over ``in_channels`` bands, scaled so the layer's summed response keeps its size."""
    repeats = -(-in_channels // weight.shape[1])
    return weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (weight.shape[1] / in_channels)


def _load_own(model: MaskRCNN, state: dict[str, torch.Tensor], name: str, arch: str) -> None:
    """Load our state_dict strictly, saying in one line how a mismatched file differs from the model."""
    file_arch = next((a for key, a in _ARCHITECTURE_MARKERS.items() if key in state), None)
    if file_arch is None:
        raise WeightsError(f"{name} is not a Mask R-CNN state_dict of {' or '.join(ARCHITECTURES)}")
    if file_arch != arch:
        raise WeightsError(f"{name} holds {file_arch} weights, model is {arch}")
    own = model.state_dict()
    file_classes, model_classes = state[_CLASS_HEAD_KEY].shape[0], own[_CLASS_HEAD_KEY].shape[0]
    if file_classes != model_classes:
        raise WeightsError(f"{name} has {file_classes} classes, model expects {model_classes}")
    file_bands, model_bands = state[_FIRST_CONV_KEY].shape[1], own[_FIRST_CONV_KEY].shape[1]
    if file_bands != model_bands:
        raise WeightsError(f"{name} takes {file_bands} input bands, model expects {model_bands}")
    differing = sorted(set(own) ^ set(state)) + [
        k for k in own if k in state and own[k].shape != state[k].shape
    ]
    if differing:
        raise WeightsError(f"{name} does not fit {arch}: {len(differing)} keys differ, e.g. {differing[0]}")
    model.load_state_dict(state)


def _freeze_backbone(model: MaskRCNN, trainable_layers: int) -> None:
    """Train only the top ``trainable_layers`` ResNet stages: the low ones hold generic edges to keep."""
    if not 0 <= trainable_layers <= 5:
        raise ValueError(f"trainable_backbone_layers must be 0..5, got {trainable_layers}")
    trainable = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers]
    if trainable_layers == 5:
        trainable.append("bn1")
    for name, parameter in model.backbone.body.named_parameters():
        parameter.requires_grad_(name.split(".")[0] in trainable)

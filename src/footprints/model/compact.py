"""A Mask R-CNN sized for a laptop CPU: ResNet-18 + FPN with GroupNorm, narrow heads, fewer proposals.

Built from torchvision's public parts only (``BackboneWithFPN``, ``FastRCNNConvFCHead``, ``MaskRCNNHeads``),
so torchvision's training and inference code runs it unchanged. Why each choice:

- ResNet-18 instead of ResNet-50: a third of the backbone's work, and buildings seen from above are simple
  shapes that do not need ImageNet-scale depth.
- GroupNorm everywhere (backbone, FPN, heads): no COCO or ImageNet weights can be had offline, and BatchNorm
  trained from scratch with 2-4 tiles per batch has statistics too noisy to learn from; GroupNorm does not
  depend on the batch.
- 128 FPN channels and heads of 128/256 features: torchvision's default heads (two 1024-wide linear layers,
  13.9 M parameters) were sized for ResNet-50 and 91 COCO classes; we have 3 classes.
- 1000/500 proposals in training and 500/250 in inference (torchvision: 2000/2000 and 1000/1000): a 512 px
  tile holds tens of buildings, not hundreds.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torchvision.models import resnet18
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

COMPACT_ARCH = "maskrcnn_resnet18_fpn_gn"

FPN_CHANNELS = 128
BOX_FEATURES = 256
GROUPS = 16  # GroupNorm groups: divides every width used here (64 ... 512, 128, 256)


def group_norm(channels: int) -> nn.GroupNorm:
    """The normalisation layer of every block: independent of the batch size."""
    return nn.GroupNorm(GROUPS, channels)


def compact_maskrcnn(num_classes: int, in_channels: int = 3, **transform: Any) -> MaskRCNN:
    """The untrained compact Mask R-CNN; ``transform`` holds ``MaskRCNN``'s size and normalisation keywords."""
    body = resnet18(weights=None, norm_layer=group_norm)
    if in_channels != 3:
        body.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    backbone = BackboneWithFPN(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[64, 128, 256, 512],
        out_channels=FPN_CHANNELS,
        norm_layer=group_norm,
    )
    box_head = FastRCNNConvFCHead(
        (FPN_CHANNELS, 7, 7), [FPN_CHANNELS, FPN_CHANNELS], [BOX_FEATURES], norm_layer=group_norm
    )
    mask_head = MaskRCNNHeads(FPN_CHANNELS, [FPN_CHANNELS] * 4, 1, norm_layer=group_norm)
    return MaskRCNN(
        backbone,
        num_classes=None,
        box_head=box_head,
        box_predictor=FastRCNNPredictor(BOX_FEATURES, num_classes),
        mask_head=mask_head,
        mask_predictor=MaskRCNNPredictor(FPN_CHANNELS, FPN_CHANNELS, num_classes),
        rpn_pre_nms_top_n_train=1000,
        rpn_post_nms_top_n_train=500,
        rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_test=250,
        box_batch_size_per_image=256,
        **transform,
    )

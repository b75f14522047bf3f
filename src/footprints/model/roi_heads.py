"""Mask R-CNN RoI heads whose detections also carry every class's probability, not only the winning one's."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import boxes as box_ops


class ClassScoreRoIHeads(RoIHeads):
    """Add ``class_scores`` (N x foreground classes) to each image's detections.

    torchvision splits every proposal into one candidate per class, then filters by score and runs
    per-class NMS, so a kept box knows only its own class's score. The challenge CSV wants a confidence for
    each class. Here each candidate remembers the proposal it came from, and each survivor gets that
    proposal's softmax row without the background column: ``class_scores[i, labels[i] - 1] == scores[i]``,
    and a row sums to one minus the background probability.
    """

    @classmethod
    def from_roi_heads(cls, heads: RoIHeads) -> ClassScoreRoIHeads:
        """Rebuild torchvision's heads as this class, sharing modules and settings (same state_dict keys)."""
        return cls(
            box_roi_pool=heads.box_roi_pool,
            box_head=heads.box_head,
            box_predictor=heads.box_predictor,
            fg_iou_thresh=heads.proposal_matcher.high_threshold,
            bg_iou_thresh=heads.proposal_matcher.low_threshold,
            batch_size_per_image=heads.fg_bg_sampler.batch_size_per_image,
            positive_fraction=heads.fg_bg_sampler.positive_fraction,
            bbox_reg_weights=heads.box_coder.weights,
            score_thresh=heads.score_thresh,
            nms_thresh=heads.nms_thresh,
            detections_per_img=heads.detections_per_img,
            mask_roi_pool=heads.mask_roi_pool,
            mask_head=heads.mask_head,
            mask_predictor=heads.mask_predictor,
        )

    def forward(
        self,
        features: dict[str, torch.Tensor],
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, torch.Tensor]] | None = None,
    ) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        """Run torchvision's heads, then attach the class scores that ``postprocess_detections`` set aside.

        The parent's ``forward`` unpacks exactly three lists from ``postprocess_detections``, so the fourth
        travels on ``self`` for the length of this call.
        """
        result, losses = super().forward(features, proposals, image_shapes, targets)
        if not self.training:
            for detections, class_scores in zip(result, self._class_scores, strict=True):
                detections["class_scores"] = class_scores
            del self._class_scores
        return result, losses

    def postprocess_detections(
        self,
        class_logits: torch.Tensor,
        box_regression: torch.Tensor,
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """torchvision's ``postprocess_detections``, noting which proposal each kept candidate came from."""
        num_classes = class_logits.shape[-1]
        boxes_per_image = [len(boxes) for boxes in proposals]
        pred_boxes = self.box_coder.decode(box_regression, proposals).split(boxes_per_image)
        pred_scores = F.softmax(class_logits, -1).split(boxes_per_image)

        all_boxes, all_scores, all_labels = [], [], []
        self._class_scores: list[torch.Tensor] = []
        for boxes, probabilities, image_shape in zip(pred_boxes, pred_scores, image_shapes, strict=True):
            boxes = box_ops.clip_boxes_to_image(boxes, image_shape)
            labels = torch.arange(num_classes, device=boxes.device).expand_as(probabilities)
            proposal = torch.arange(len(boxes), device=boxes.device)[:, None].expand_as(probabilities)

            # one candidate per (proposal, foreground class)
            boxes = boxes[:, 1:].reshape(-1, 4)
            scores = probabilities[:, 1:].reshape(-1)
            labels = labels[:, 1:].reshape(-1)
            proposal = proposal[:, 1:].reshape(-1)

            keep = torch.where(scores > self.score_thresh)[0]
            keep = keep[box_ops.remove_small_boxes(boxes[keep], min_size=1e-2)]
            keep = keep[box_ops.batched_nms(boxes[keep], scores[keep], labels[keep], self.nms_thresh)]
            keep = keep[: self.detections_per_img]

            all_boxes.append(boxes[keep])
            all_scores.append(scores[keep])
            all_labels.append(labels[keep])
            self._class_scores.append(probabilities[proposal[keep], 1:])
        return all_boxes, all_scores, all_labels

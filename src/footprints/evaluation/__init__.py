"""Evaluation of predicted building footprints: SpaceNet F1, tile-border breakdown, COCO mask AP, plots.

Plain functions without Kedro imports; the evaluation pipeline's nodes call them.
"""

from footprints.evaluation.border import border_breakdown, crosses_border, interior_borders, merge_summary
from footprints.evaluation.coco import mask_map
from footprints.evaluation.gallery import buildings_per_tile, gallery_tiles
from footprints.evaluation.matching import (
    ALL_BUILDINGS,
    MEAN_OVER_CLASSES,
    combine_scores,
    combine_threshold_scores,
    match,
    per_class_scores,
    scores,
    threshold_scores,
)
from footprints.evaluation.plots import (
    GalleryItem,
    class_scores_bars,
    loss_curves,
    map_overlay,
    threshold_f1_curve,
    tile_gallery,
)
from footprints.evaluation.report import flat_metrics, markdown_report

__all__ = [
    "ALL_BUILDINGS",
    "GalleryItem",
    "MEAN_OVER_CLASSES",
    "border_breakdown",
    "buildings_per_tile",
    "class_scores_bars",
    "combine_scores",
    "combine_threshold_scores",
    "crosses_border",
    "flat_metrics",
    "gallery_tiles",
    "interior_borders",
    "loss_curves",
    "map_overlay",
    "markdown_report",
    "mask_map",
    "match",
    "merge_summary",
    "per_class_scores",
    "scores",
    "threshold_f1_curve",
    "threshold_scores",
    "tile_gallery",
]

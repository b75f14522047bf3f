"""Evaluation of predicted building footprints: SpaceNet F1, tile-border breakdown, COCO mask AP, plots.

Plain functions without Kedro imports; the evaluation pipeline's nodes call them. The names below load
their submodule on first use (PEP 562), as in ``footprints.model``: pipeline discovery imports the reporting
nodes on every ``kedro run``, and the plots would otherwise bring matplotlib (~30 MB) into runs that draw
nothing.
"""

from footprints.lazy import lazy_exports

_EXPORTS = {
    ".border": ["border_breakdown", "crosses_border", "interior_borders", "merge_summary"],
    ".coco": ["mask_map"],
    ".gallery": ["GalleryItem", "buildings_per_tile", "gallery_tiles"],
    ".matching": ["ALL_BUILDINGS", "MEAN_OVER_CLASSES", "combine_scores", "combine_threshold_scores", "match",
                  "per_class_scores", "scores", "threshold_scores"],
    ".plots": ["class_scores_bars", "loss_curves", "map_overlay", "threshold_f1_curve", "tile_gallery"],
    ".report": ["flat_metrics", "markdown_report"],
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)

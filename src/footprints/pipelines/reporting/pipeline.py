"""Wiring of the reporting pipeline: predictions + labels -> metrics, plots and a report in MLflow."""

from kedro.pipeline import Node, Pipeline

from .nodes import (evaluation_frames, model_provenance, plot_class_scores, plot_loss_curves, plot_map_overlay,
                    plot_threshold_f1, plot_tile_gallery, score_buildings, score_masks, write_report)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(evaluation_frames, ["buildings_gpkg", "label_database", "tile_index", "tile_split"],
                 "evaluation_frames", name="gather_held_out_truth_and_predictions"),
            Node(score_buildings, ["evaluation_frames", "params:reporting"],
                 ["building_scores", "border_breakdown"], name="score_buildings_in_map_coordinates"),
            Node(score_masks, ["tile_predictions", "instance_masks", "tile_index", "tile_split"],
                 "mask_ap", name="score_masks_coco_ap"),
            Node(plot_loss_curves, ["training_history", "labelled_tile_index", "tile_split"], "loss_curves_plot",
                 name="plot_loss_curves"),
            Node(plot_class_scores, "building_scores", "class_scores_plot", name="plot_class_scores"),
            Node(plot_threshold_f1, ["evaluation_frames", "params:reporting"], "threshold_f1_plot",
                 name="plot_f1_against_score_threshold"),
            Node(plot_tile_gallery, ["tiles", "tile_predictions", "evaluation_frames", "params:reporting"],
                 "tile_gallery_plot", name="plot_tile_gallery"),
            Node(plot_map_overlay, ["raw_images", "evaluation_frames", "tile_index"], "map_overlay_plot",
                 name="plot_map_overlay"),
            Node(model_provenance, "model_weights", "model_provenance", name="read_training_provenance"),
            Node(write_report, ["mlflow_run", "building_scores", "border_breakdown", "mask_ap", "model_provenance",
                                "evaluation_frames", "params:reporting"],
                 ["evaluation_report", "evaluation_metrics"], name="write_report_and_metrics"),
        ]
    )

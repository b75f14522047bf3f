"""Wiring of the inference pipeline: held-out tiles + model -> one JSON per tile -> merged buildings per image."""

from kedro.pipeline import Node, Pipeline

from .nodes import merge_tile_predictions, predict_tiles, select_tiles


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=select_tiles,
                inputs=["tile_index", "tile_split", "params:inference"],
                outputs="tiles_to_predict",
                name="select_held_out_tiles",
            ),
            Node(
                func=predict_tiles,
                inputs=["tiles", "tiles_to_predict", "model_weights", "existing_tile_predictions", "mlflow_run",
                        "params:inference"],
                outputs=["tile_predictions", "predicted_tiles"],
                name="predict_buildings_per_tile",
            ),
            Node(
                func=merge_tile_predictions,
                inputs=["tile_predictions", "predicted_tiles", "raw_images", "mlflow_run", "params:inference"],
                outputs=["buildings_gpkg", "buildings_geojson", "challenge_csv", "predictions_table"],
                name="merge_buildings_across_tiles",
            ),
        ]
    )

"""Wiring of the predict pipeline: GeoTIFFs + a trained model -> tiles -> one JSON per tile -> buildings.

It reuses the preprocessing and inference nodes with its own datasets (``predict_*``, under the output folder
``--params out=DIR``), so tiling, prediction, merging, resuming and outputs behave exactly as there.
"""

from kedro.pipeline import Node, Pipeline

from footprints.pipelines.inference.nodes import merge_tile_predictions, predict_tiles
from footprints.pipelines.preprocessing.nodes import tile_images

from .nodes import predict_settings


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(predict_settings, ["predict_model", "params:preprocessing", "params:inference", "params:predict"],
                 ["predict_tiling", "predict_settings"], name="settle_predict_settings"),
            Node(tile_images, ["predict_images", "predict_existing_tiles", "predict_tiling"],
                 ["predict_tiles", "predict_tile_index"], name="tile_new_images"),
            Node(predict_tiles, ["predict_tiles", "predict_tile_index", "predict_model",
                                 "predict_existing_tile_predictions", "mlflow_run", "predict_settings"],
                 ["predict_tile_predictions", "predict_predicted_tiles"], name="predict_new_tiles"),
            Node(merge_tile_predictions, ["predict_tile_predictions", "predict_predicted_tiles", "predict_images",
                                          "mlflow_run", "predict_settings"],
                 ["predict_buildings_gpkg", "predict_buildings_geojson", "predict_challenge_csv",
                  "predict_predictions_table"], name="merge_new_buildings"),
        ]
    )

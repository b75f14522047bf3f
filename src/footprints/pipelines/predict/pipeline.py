"""Wiring of the predict pipeline: GeoTIFFs + a trained model -> tiles -> one JSON per tile -> buildings.

It reuses the preprocessing and inference nodes with its own datasets (``predict.*``, under the output folder
``--params out=DIR``), so tiling, prediction, merging, resuming and outputs behave exactly as there.
"""

from kedro.pipeline import Node, Pipeline

from footprints.pipelines.inference.nodes import merge_tile_predictions, predict_tiles
from footprints.pipelines.preprocessing.nodes import tile_images

from .nodes import predict_settings


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(predict_settings, ["predict.model", "params:preprocessing", "params:inference", "params:predict"],
                 ["predict.tiling", "predict.settings"], name="settle_predict_settings"),
            Node(tile_images, ["predict.images", "predict.existing_tiles", "predict.tiling"],
                 ["predict.tiles", "predict.tile_index"], name="tile_new_images"),
            Node(predict_tiles, ["predict.tiles", "predict.tile_index", "predict.model",
                                 "predict.existing_tile_predictions", "mlflow_run", "predict.settings"],
                 ["predict.tile_predictions", "predict.predicted_tiles"], name="predict_new_tiles"),
            Node(merge_tile_predictions, ["predict.tile_predictions", "predict.predicted_tiles",
                                          "predict.tile_index", "predict.images", "mlflow_run", "predict.settings"],
                 ["predict.buildings_gpkg", "predict.buildings_geojson", "predict.challenge_csv",
                  "predict.predictions_table"], name="merge_new_buildings"),
        ]
    )

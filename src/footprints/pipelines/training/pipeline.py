"""Wiring of the training pipeline: labelled tiles of the split -> trained weights + MLflow metrics."""

from kedro.pipeline import Node, Pipeline

from .nodes import package_model, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=train_model,
                inputs=["tiles", "instance_masks", "tile_split", "initial_weights", "starter_model",
                        "params:training"],
                outputs=["model_weights", "training_history", "training_metrics", "training_provenance"],
                name="train_mask_rcnn",
            ),
            Node(
                func=package_model,
                inputs="model_weights",
                outputs="registered_model",
                name="log_and_register_mlflow_model",
            ),
        ]
    )

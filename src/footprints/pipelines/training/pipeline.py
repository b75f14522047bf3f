"""Wiring of the training pipeline: labelled tiles of the split -> trained weights + MLflow metrics."""

from kedro.pipeline import Node, Pipeline

from .nodes import train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=train_model,
                inputs=["tiles", "instance_masks", "tile_split", "params:training"],
                outputs=["model_weights", "training_history", "training_metrics"],
                name="train_mask_rcnn",
            ),
        ]
    )

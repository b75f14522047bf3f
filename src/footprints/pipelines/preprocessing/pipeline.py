"""Wiring of the preprocessing pipeline: raw images -> tiles + tile index."""

from kedro.pipeline import Node, Pipeline

from .nodes import tile_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=tile_images,
                inputs=["raw_images", "existing_tiles", "params:preprocessing"],
                outputs=["tiles", "tile_index"],
                name="tile_raw_images",
            ),
        ]
    )

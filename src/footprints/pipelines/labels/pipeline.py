"""Wiring of the labels pipeline: raw labels -> label database -> per-tile instances -> instance masks."""

from kedro.pipeline import Node, Pipeline

from .nodes import build_instance_masks, clean_labels, query_tile_labels, split_tiles


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=clean_labels,
                inputs=["raw_labels", "tile_index", "params:labels"],
                outputs=["label_database", "label_report"],
                name="clean_and_store_labels",
            ),
            Node(
                func=query_tile_labels,
                inputs=["label_database", "tile_index"],
                outputs=["tile_instances", "labelled_tile_index"],
                name="query_labels_of_every_tile",
            ),
            Node(
                func=build_instance_masks,
                inputs=["tile_instances", "labelled_tile_index"],
                outputs="instance_masks",
                name="rasterise_instance_masks",
            ),
            Node(
                func=split_tiles,
                inputs=["labelled_tile_index", "params:labels.split"],
                outputs="tile_split",
                name="split_tiles_without_leakage",
            ),
        ]
    )

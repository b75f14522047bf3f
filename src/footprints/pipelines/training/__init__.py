"""Train Mask R-CNN on the labelled tiles, tracked in MLflow."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

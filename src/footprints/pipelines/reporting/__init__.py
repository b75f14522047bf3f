"""Score predictions with the challenge metric and COCO mask AP, plot, report, log it all to MLflow."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

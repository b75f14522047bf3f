"""Predict tiles, merge detections per raw image, write the challenge CSV and QGIS layers."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

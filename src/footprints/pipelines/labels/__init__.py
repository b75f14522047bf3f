"""Clean GeoJSON labels, store them in the label database, and give every tile its instances and masks."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""Tile raw GeoTIFFs into georeferenced tiles and a tile index."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

"""footprints: georeferenced building instances from aerial GeoTIFFs with Mask R-CNN."""

__version__ = "0.1.0"

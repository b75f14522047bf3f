"""Per-tile mask rasterising: the work of ``build_instance_masks``, run on Dask workers.

It lives outside the labels pipeline's node module so that a worker unpickling a mask task imports only
what rasterising needs (geopandas, rasterio), not the training stack the node module pulls in.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from footprints.datasets.masks import InstanceMasks
from footprints.geo import TileGrid, rasterize_instances, reproject


def rasterise_tile(instances: gpd.GeoDataFrame, grid: TileGrid) -> InstanceMasks:
    """Masks of a tile's instances in the tile's pixel grid; instances too small to cover a pixel drop out."""
    geoms = reproject(instances.geometry.values, instances.crs or grid.crs, grid.crs)
    masks = rasterize_instances(geoms, grid.transform, (grid.height, grid.width))
    keep = masks.any(axis=(1, 2))
    return InstanceMasks(masks[keep], instances.class_id.to_numpy(dtype=np.int64)[keep],
                         instances.label_id.to_numpy(dtype=np.int64)[keep])

"""Per-tile mask rasterising: the work of ``build_instance_masks``, run on Dask workers.

It lives outside the labels pipeline's node module so that a worker unpickling a mask task imports only
what rasterising needs (geopandas, rasterio), not the training stack the node module pulls in.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from footprints.datasets.masks import InstanceMasks
from footprints.geo import TileGrid, rasterize_instances, reproject


# Part of every instance mask's key (footprints.pipelines.labels.nodes): raise it when the masks made from the
# same tile and instances change (this module, geo.rasterize_instances / reproject, the .npz layout of
# datasets/masks.py), so that a re-run makes them again instead of keeping the old ones.
MASKS_VERSION = 1


def rasterise_tile(instances: gpd.GeoDataFrame, grid: TileGrid) -> InstanceMasks:
    """Masks of a tile's instances in the tile's pixel grid; instances too small to cover a pixel drop out."""
    geoms = reproject(instances.geometry.values, instances.crs or grid.crs, grid.crs)
    masks = rasterize_instances(geoms, grid.transform, (grid.height, grid.width))
    keep = masks.any(axis=(1, 2))
    return InstanceMasks(masks[keep], instances.class_id.to_numpy(dtype=np.int64)[keep],
                         instances.label_id.to_numpy(dtype=np.int64)[keep])

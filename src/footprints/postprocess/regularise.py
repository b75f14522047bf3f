"""Square building outlines (optional): right angles and straight walls, with ``buildingregulariser``.

A mask's outline follows the model's uncertainty at the wall; a mapper wants the rectangle or L the building
is. ``buildingregulariser`` (MIT, geopandas + numpy) aligns each outline's edges to its main direction. What
its code and behaviour required of this wrapper (docs/decisions.md has the review):

- it runs in-process only with ``num_cores=1`` (0 starts a process pool on every call);
- it renumbers rows, drops rows it cannot handle and may split one outline into several: each building is
  matched back by its own id, and a building it dropped keeps its merged outline;
- it can return a shape far from the input (small or thin polygons collapse): a squared outline whose IoU
  with the merged one is under ``MIN_IOU`` is not used;
- its tolerances are in CRS units: it runs in the image's metric CRS, scaled to the pixel size;
- its neighbour alignment is not used: it rotates buildings toward a wrong perpendicular (90 - direction).
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np

from footprints.postprocess.robust import iou, union_rows, valid_polygons

MIN_IOU = 0.8  # a squared outline must keep this much of the merged one, or the merged one stays
SIMPLIFY_PX = 6.0  # about 0.45 m at 7.5 cm: the uncertainty of a mask at a wall, not a pixel
PARALLEL_PX = 10.0  # edges closer than this (pixels) and nearly parallel become one wall


def squared_outlines(outlines: np.ndarray, crs: object, pixel: float) -> tuple[np.ndarray, int]:
    """Squared version of each polygon (metric ``crs``, ``pixel`` metres), and how many stayed as they were."""
    from buildingregulariser import regularize_geodataframe

    if not len(outlines):
        return outlines, 0
    frame = gpd.GeoDataFrame({"building": np.arange(len(outlines))}, geometry=list(outlines), crs=crs)
    with warnings.catch_warnings():  # its per-building "low IoU, returning original" notes: handled below
        warnings.filterwarnings("ignore", module="buildingregulariser")
        squared = regularize_geodataframe(frame, num_cores=1, simplify_tolerance=SIMPLIFY_PX * pixel,
                                          parallel_threshold=PARALLEL_PX * pixel, allow_circles=False,
                                          neighbor_alignment=False)
    result = np.array(outlines, dtype=object)
    parts = squared.groupby("building").geometry.agg(lambda g: union_rows(_row(g.values))[0][0])
    candidates = valid_polygons(np.asarray(parts.to_numpy(), dtype=object))
    close, _ = iou(candidates, result[parts.index.to_numpy()])
    use = close >= MIN_IOU
    result[parts.index.to_numpy()[use]] = candidates[use]
    return result, len(outlines) - int(use.sum())


def _row(geoms: np.ndarray) -> np.ndarray:
    """The parts the library split one outline into, as one row for ``union_rows``."""
    row = np.empty((1, len(geoms)), dtype=object)
    row[0, :] = list(geoms)
    return row

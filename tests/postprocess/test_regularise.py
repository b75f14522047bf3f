"""Squared outlines (inference.merge.regularise): right angles back from the pixel staircase of a mask."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import affinity

from footprints.postprocess.buildings import image_buildings
from tests.conftest import project_params
from tests.postprocess.test_merge import building, documents, grids


def outlines(buildings, regularise: bool):
    docs = documents(buildings, grids(2, 2, 20))
    return image_buildings(docs, {**project_params("inference")["merge"], "regularise": regularise})


def corners(polygon) -> np.ndarray:
    """Turning angle at each vertex of the outer ring, in degrees (0: straight on, 90: a right angle)."""
    ring = np.asarray(shapely.get_exterior_ring(polygon).coords)[:-1]
    edges = np.roll(ring, -1, axis=0) - ring
    heading = np.degrees(np.arctan2(edges[:, 1], edges[:, 0]))
    return np.abs((np.diff(np.r_[heading, heading[0]]) + 180) % 360 - 180)


def test_squared_outlines_have_right_angles_and_keep_the_building():
    truth = [affinity.rotate(building(x, 10, x + 12, 18), 25) for x in (8, 40, 70)]  # one cut by tile edges
    merged, squared = outlines(truth, False), outlines(truth, True)
    assert len(merged) == len(squared) == 3
    for before, after in zip(merged.geometry.values, squared.geometry.values):
        assert after.is_valid and not after.is_empty and len(after.geoms) == 1
        assert np.all(np.abs(corners(after.geoms[0]) - 90) < 1)
        assert not np.all(np.abs(corners(before.geoms[0]) - 90) < 1)
        true = max(truth, key=lambda t: t.intersection(after).area)
        assert true.intersection(after).area / true.union(after).area > 0.9


def test_squaring_a_sliver_keeps_the_merged_outline(caplog):
    sliver = [building(10, 10, 40, 10.6)]  # 30 x 0.6 m: the library would collapse it
    merged, squared = outlines(sliver, False), outlines(sliver, True)
    assert len(squared) == 1 and squared.geometry.iloc[0].is_valid
    before, after = merged.geometry.iloc[0], squared.geometry.iloc[0]
    assert before.intersection(after).area / before.union(after).area >= 0.8

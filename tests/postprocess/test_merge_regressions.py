"""Real detections that once crashed the cross-tile merge (tests/data/regressions/*/SOURCE.md): valid
polygons whose mitre-grown, reprojected outlines made GEOS's overlay raise a TopologyException."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import shapely
from affine import Affine

from footprints.geo import footprint
from footprints.postprocess.buildings import image_buildings
from footprints.postprocess.robust import iou, overlay, union_rows
from tests.conftest import project_params

REGRESSIONS = Path(__file__).parents[1] / "data/regressions"


def documents(case: str) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((REGRESSIONS / case).glob("*.json"))]


@pytest.mark.parametrize(("case", "buildings"), [("merge_topology_4326", 2), ("merge_topology_3857", 1)])
def test_topology_exceptions_of_real_detections_no_longer_stop_the_merge(case, buildings, caplog):
    docs = documents(case)
    with caplog.at_level(logging.WARNING):
        merged = image_buildings(docs, project_params("inference")["merge"])
    image = shapely.union_all([footprint(Affine(*d["transform"]), d["width"], d["height"]) for d in docs])
    assert len(merged) == buildings
    assert merged.is_valid.all()
    assert merged.geometry.within(image.buffer(1e-9)).all()
    assert "failed even snapped" not in caplog.text  # repaired, not given up on


def test_a_pair_that_fails_is_redone_alone_and_the_rest_stay_vectorised():
    square = shapely.box(0, 0, 1, 1)
    bow_tie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])  # invalid: overlay raises on it
    result = overlay(shapely.intersection, np.array([square, bow_tie, square], dtype=object), square)
    assert [g.area for g in result] == [1.0, pytest.approx(0.5), 1.0]
    overlaps, failed = iou(np.array([bow_tie, square], dtype=object), square)
    assert failed == 0 and np.isfinite(overlaps).all() and overlaps[1] == 1.0


def test_unions_of_hostile_fragments_come_back_valid():
    bow_tie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    rows = np.array([[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], [bow_tie, shapely.box(0, 0, 2, 2)]],
                    dtype=object)
    unions, fell_back = union_rows(rows)
    assert fell_back == 0
    assert shapely.is_valid(unions).all() and [u.area for u in unions] == [2.0, 4.0]

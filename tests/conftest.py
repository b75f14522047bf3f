"""Shared fixtures: the shipped sample, the project's own parameters, a throw-away PostGIS server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

PROJECT = Path(__file__).resolve().parents[1]
SAMPLE_IMAGE = PROJECT / "data/01_raw/images/tanzania_sample.tif"
SAMPLE_LABELS = PROJECT / "data/01_raw/labels/tanzania_sample.geojson"
ATLANTA = PROJECT / "tests/data/spacenet_atlanta"


def project_params(pipeline: str) -> dict[str, Any]:
    """The shipped ``conf/base/parameters_<pipeline>.yml`` (tests use the real defaults, not copies)."""
    with open(PROJECT / f"conf/base/parameters_{pipeline}.yml") as handle:
        return yaml.safe_load(handle)[pipeline]


@pytest.fixture(scope="session")
def sample_image() -> Path:
    return SAMPLE_IMAGE


@pytest.fixture(scope="session")
def sample_labels() -> Path:
    return SAMPLE_LABELS

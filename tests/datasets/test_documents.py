import json
import math

import numpy as np
import pytest

from footprints.datasets.documents import JSONDocumentDataset


def _strict(text: str):
    """Parse as RFC 8259 JSON: Python's json module would accept the NaN/Infinity tokens."""
    def refuse(token):
        raise ValueError(f"not JSON: {token}")
    return json.loads(text, parse_constant=refuse)


def test_undefined_metrics_are_written_as_null(tmp_path):
    path = tmp_path / "mask_ap.json"
    dataset = JSONDocumentDataset(filepath=str(path))
    dataset.save({"map": 0.25, "map_foundation": math.nan, "per_group": [{"f1": np.float64("nan")}],
                  "ratio": math.inf, "n": 3})
    assert _strict(path.read_text()) == {"map": 0.25, "map_foundation": None, "per_group": [{"f1": None}],
                                         "ratio": None, "n": 3}
    assert dataset.load()["map_foundation"] is None


def test_finite_documents_are_written_unchanged(tmp_path):
    doc = {"tile_id": "t", "instances": [{"score": 0.9, "geometry": {"coordinates": [[[0.5, 1.0]]]}}]}
    dataset = JSONDocumentDataset(filepath=str(tmp_path / "t.json"))
    dataset.save(doc)
    assert _strict((tmp_path / "t.json").read_text()) == doc


def test_strict_parse_refuses_nan_token():
    with pytest.raises(ValueError, match="NaN"):
        _strict('{"a": NaN}')

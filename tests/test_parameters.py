"""Every parameter is checked before a run does any work; class values match by value."""

from __future__ import annotations

import pytest

from footprints.errors import ParameterError
from footprints.labels.cleaning import class_key
from footprints.parameters import RULES, flatten, validate
from tests.conftest import project_params

PIPELINES = ("preprocessing", "labels", "training", "inference", "reporting")


def shipped() -> dict:
    return {name: project_params(name) for name in PIPELINES}


def test_the_shipped_parameters_pass_and_each_has_a_rule():
    validate(shipped())
    assert set(flatten(shipped())) <= set(RULES)  # a new parameter gets its rule


@pytest.mark.parametrize("name, value, allowed", [
    ("preprocessing.tile_size", 0, "an integer >= 32"),
    ("preprocessing.overlap", 600, "smaller than preprocessing.tile_size"),
    ("labels.split.val_fraction", 1.0, "a number > 0 and < 1"),
    ("labels.unknown_class", "ruin", "one of ['drop', 'complete'"),
    ("labels.classes", {1: "ruin"}, "a mapping of attribute values to"),
    ("training.std", [58.4, 0.0, 57.4], "a list of positive numbers, one per training.bands entry"),
    ("training.mean", [1.0], "one per training.bands entry"),
    ("training.epochs", 1.5, "an integer >= 1"),
    ("training.amp", "yes", "one of [True, False]"),
    ("training.device", "gpu", "auto, cpu, cuda or cuda:<index>"),
    ("inference.tiles", "every", "one of ['holdout', 'all']"),
    ("labels.assume_crs", "EPSG:0", "null or a CRS"),
    ("reporting.iou_threshold", 0, "a number > 0"),
])
def test_a_refused_value_names_parameter_value_and_what_is_allowed(name, value, allowed):
    params = shipped()
    section = params
    *path, leaf = name.split(".")
    for key in path:
        section = section[key]
    section[leaf] = value
    with pytest.raises(ParameterError) as err:
        validate(params)
    message = str(err.value)
    assert message.startswith(f"parameter {name}: {value!r} is not allowed; use ") and allowed in message
    assert "\n" not in message


@pytest.mark.parametrize("value", [1, 1.0, "1", " 1 ", "1.0"])
def test_class_values_match_by_value_whatever_their_type(value):
    assert class_key(value) == class_key(1) == "1"


@pytest.mark.parametrize("value, key", [("Complete", "Complete"), (2.5, "2.5"), (None, None),
                                        (float("nan"), None), ("01", "1")])
def test_class_keys(value, key):
    assert class_key(value) == key

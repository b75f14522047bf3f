"""What every parameter of conf/base/parameters_*.yml may be, checked before a run does any work.

One rule per parameter: a refused value stops the run with one line naming the parameter, its value and what
is allowed (``ParameterError``). A parameter this table does not know is refused too, with the nearest known
name: a misspelt key (``traning.epochs``) or an option since renamed would otherwise be ignored in silence,
and the run would go on with the default. The names ``--params`` passes to the catalog (``RUNTIME_KEYS``) are
known as well.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from footprints.classes import CLASS_NAMES
from footprints.errors import ParameterError


@dataclass(frozen=True)
class Rule:
    """``check(value, params)`` is True when ``value`` is allowed; ``allowed`` says what is (for messages)."""

    check: Callable[[Any, Mapping[str, Any]], bool]
    allowed: str


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(minimum: int) -> Rule:
    return Rule(lambda v, _: _integer(v) and v >= minimum, f"an integer >= {minimum}")


def number(minimum: float, maximum: float = math.inf, open_low: bool = False) -> Rule:
    low = (lambda v: v > minimum) if open_low else (lambda v: v >= minimum)
    bounds = f"{'>' if open_low else '>='} {minimum}" + (f" and <= {maximum}" if maximum < math.inf else "")
    return Rule(lambda v, _: _number(v) and low(v) and v <= maximum, f"a number {bounds}")


def choice(*options: Any) -> Rule:
    return Rule(lambda v, _: v in options and isinstance(v, type(options[0])), f"one of {list(options)}")


def optional(rule: Rule) -> Rule:
    return Rule(lambda v, p: v is None or rule.check(v, p), f"null or {rule.allowed}")


def _crs(value: Any, _: Mapping[str, Any]) -> bool:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_user_input(value)
    except (CRSError, TypeError):
        return False
    return True


def _band_values(positive: bool) -> Rule:
    def check(value: Any, params: Mapping[str, Any]) -> bool:
        bands = params.get("training.bands")
        return (isinstance(value, list) and all(_number(v) and (v > 0 or not positive) for v in value)
                and (not isinstance(bands, list) or len(value) == len(bands)))
    return Rule(check, f"a list of {'positive ' if positive else ''}numbers, one per training.bands entry")


def _classes(value: Any, _: Mapping[str, Any]) -> bool:
    return isinstance(value, Mapping) and bool(value) and set(value.values()) <= set(CLASS_NAMES)


UNIT = number(0, 1)
IOU = number(0, 1, open_low=True)
DEVICE = Rule(lambda v, _: isinstance(v, str) and re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None,
              "auto, cpu, cuda or cuda:<index>")

RULES: dict[str, Rule] = {
    "preprocessing.tile_size": integer(32),
    "preprocessing.overlap": Rule(
        lambda v, p: _integer(v) and 0 <= v < p.get("preprocessing.tile_size", math.inf),
        "an integer >= 0 and smaller than preprocessing.tile_size"),
    "preprocessing.min_valid_fraction": UNIT,
    "labels.class_attribute": Rule(lambda v, _: isinstance(v, str) and bool(v.strip()), "a property name"),
    "labels.classes": Rule(_classes, f"a mapping of attribute values to {list(CLASS_NAMES)}"),
    "labels.unknown_class": choice("drop", *CLASS_NAMES),
    "labels.assume_crs": optional(Rule(_crs, "a CRS (e.g. EPSG:4326)")),
    "labels.split.val_fraction": Rule(lambda v, _: _number(v) and 0 < v < 1, "a number > 0 and < 1"),
    "labels.split.seed": integer(0),
    "labels.split.val_images": optional(Rule(lambda v, _: isinstance(v, list) and all(isinstance(i, str) for i in v),
                                             "a list of image ids")),
    "training.arch": choice("maskrcnn_resnet18_fpn_gn", "maskrcnn_resnet50_fpn_v2", "maskrcnn_resnet50_fpn"),
    "training.input_scale": number(0.125, 1.0),
    "training.checkpoint_dir": optional(Rule(lambda v, _: isinstance(v, str) and bool(v.strip()), "a folder path")),
    "training.pretrained": choice("auto", "coco", "none"),
    "training.bands": Rule(
        lambda v, _: isinstance(v, list) and bool(v) and all(_integer(b) and b >= 1 for b in v),
        "a non-empty list of 1-based band indexes"),
    "training.mean": _band_values(positive=False),
    "training.std": _band_values(positive=True),
    "training.seed": integer(0),
    "training.device": DEVICE,
    "training.amp": choice(True, False),
    "training.epochs": integer(1),
    "training.batch_size": integer(1),
    "training.num_workers": integer(0),
    "training.optimizer": choice("sgd", "adamw"),
    "training.lr": number(0, open_low=True),
    "training.weight_decay": number(0),
    "training.schedule": choice("cosine", "step"),
    "training.max_grad_norm": optional(number(0, open_low=True)),
    "training.torch_threads": optional(integer(1)),
    "training.augment": choice(True, False),
    "training.samples_per_epoch": optional(integer(1)),
    "training.empty_tile_weight": number(0, 1.0),
    "training.snapshot_every": optional(integer(1)),
    "training.val_loss_tiles": optional(integer(1)),
    "inference.polygons.simplify_px": number(0),
    "inference.polygons.min_area_m2": number(0),
    "inference.polygons.iou_threshold": IOU,
    "inference.merge.iou_threshold": IOU,
    "inference.merge.shared_iou_threshold": IOU,
    "inference.merge.edge_tolerance_px": number(0),
    "inference.merge.regularise": choice(True, False),
    "inference.tiles": choice("holdout", "all"),
    "inference.device": DEVICE,
    "inference.batch_size": integer(1),
    "inference.detections_per_tile": integer(1),
    "inference.score_threshold": UNIT,
    "inference.shards.enabled": choice(True, False),
    "inference.shards.tiles": integer(1),
    "inference.shards.resources": optional(Rule(
        lambda v, _: isinstance(v, Mapping) and bool(v) and all(isinstance(k, str) and _number(n) and n > 0
                                                                for k, n in v.items()),
        "a mapping of Dask resource names to positive amounts, e.g. {GPU: 1}")),
    "predict.tile_size": optional(integer(32)),
    "predict.overlap": optional(Rule(lambda v, p: _integer(v) and 0 <= v < (p.get("predict.tile_size") or math.inf),
                                     "an integer >= 0 and smaller than predict.tile_size")),
    "predict.min_valid_fraction": optional(UNIT),
    "predict.device": optional(DEVICE),
    "predict.batch_size": optional(integer(1)),
    "predict.score_threshold": optional(UNIT),
    "predict.detections_per_tile": optional(integer(1)),
    "reporting.iou_threshold": IOU,
    "reporting.gallery_tiles": integer(0),
    "reporting.gallery_min_valid_fraction": UNIT,
}


# Top-level names given with --params and read by the catalog (${runtime_params:...}), not by a node.
RUNTIME_KEYS = ("model_uri", "init_model_uri", "images", "out")


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; a mapping that is itself a parameter's value stays whole."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in RULES:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def validate(params: Mapping[str, Any]) -> None:
    """Raise ``ParameterError`` for the first refused parameter, naming it, its value and what is allowed."""
    flat = flatten(params)
    for name, value in flat.items():
        _check_known(name, value)
    for name, rule in RULES.items():
        if name in flat and not rule.check(flat[name], flat):
            raise ParameterError(f"parameter {name}: {flat[name]!r} is not allowed; use {rule.allowed} "
                                 f"(conf/base/parameters_{name.split('.')[0]}.yml or --params {name}=...)")


def _check_known(name: str, value: Any) -> None:
    """Refuse a name no rule has: a group given a plain value, or a key that does not exist."""
    if name in RULES or name in RUNTIME_KEYS:
        return
    members = [rule for rule in RULES if rule.startswith(f"{name}.")]
    if members:
        raise ParameterError(f"parameter {name} is a group, not a value ({value!r}); set one of its keys, e.g. "
                             f"--params {members[0]}=... (conf/base/parameters_{name.split('.')[0]}.yml)")
    close = difflib.get_close_matches(name, [*RULES, *RUNTIME_KEYS], n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "the known ones are in conf/base/parameters_*.yml"
    raise ParameterError(f"parameter {name} does not exist; {hint} (remove or rename it where it is set: "
                         "conf/<env>/parameters*.yml or --params)")

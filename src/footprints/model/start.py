"""Where training starts: the weights ``pretrained: auto`` picks when no ``init_model_uri`` is given."""

from __future__ import annotations

import logging
from typing import Any

from .build import coco_cached
from .weights import ModelWeights

log = logging.getLogger(__name__)


def start_weights(initial: ModelWeights | None, starter: ModelWeights | None, params: dict[str, Any]
                  ) -> ModelWeights | None:
    """Weights to fine-tune from, or ``None`` for ``build_model``'s own start (COCO or scratch).

    In order: the weights asked for (``init_model_uri``); with ``pretrained: auto``, torchvision's COCO
    weights when they are in the torch cache (``build_model`` loads them), else the shipped starter model
    when it has the same architecture and bands, else scratch. Each choice is logged once, and the weights'
    origin stays in the run's provenance (``weights_origin``).
    """
    if initial is not None or params["pretrained"] != "auto" or starter is None:
        return initial
    if coco_cached(params["arch"]):
        log.info("COCO weights for %s are in the torch cache: starting from them, not the starter model",
                 params["arch"])
        return None
    config = starter.config or {}
    differs = [key for key in ("arch", "bands") if config.get(key) != params[key]]
    if differs:
        log.warning("starter model %s not used: its %s differ from training.%s (%s); starting without it",
                    starter.source, " and ".join(differs), "/".join(differs),
                    ", ".join(f"{config.get(k)!r} vs {params[k]!r}" for k in differs))
        return None
    log.info("starting from the starter model %s (no COCO weights in the torch cache)", starter.source)
    return starter

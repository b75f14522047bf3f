"""The one node of its own the predict pipeline has: settings for new imagery, from the model and the user.

Everything else it runs is the preprocessing and inference pipelines' own nodes (one code path).
"""

from __future__ import annotations

from typing import Any

from footprints.geo import check_tiling
from footprints.model.weights import ModelWeights


def predict_settings(model_weights: ModelWeights, preprocessing: dict[str, Any], inference: dict[str, Any],
                     predict: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tiling and inference settings: ``predict.*`` where set, else the model's tile size, else the
    preprocessing and inference defaults.

    The tile size may differ from training: the model is built for the tiles it gets, so pixels keep the
    scale they had in training (what matters to Mask R-CNN), only the context per tile changes.
    """
    chosen = {key: value for key, value in predict.items() if value is not None}
    tiling = {**preprocessing, "tile_size": model_weights.config["tile_size"],
              **{k: chosen[k] for k in ("tile_size", "overlap", "min_valid_fraction") if k in chosen}}
    check_tiling(tiling["tile_size"], tiling["overlap"])
    settings = {**inference, **{k: v for k, v in chosen.items() if k in inference}}
    return tiling, settings

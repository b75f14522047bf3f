"""The trained detector as an MLflow pyfunc model, so the registry can name it and anyone can load it.

The weights stay a safetensors artifact; MLflow keeps only this thin wrapper, which rebuilds the network from
the config stored in the weights file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import mlflow.pyfunc

from footprints.model.weights import read_weights


class BuildingDetector(mlflow.pyfunc.PythonModel):
    """``predict`` takes a list of tiles (bands x H x W numpy arrays) and returns their instances as dicts."""

    def load_context(self, context: Any) -> None:
        from footprints.model.build import build_model

        weights = read_weights(context.artifacts["weights"], context.artifacts["weights"])
        self.config = weights.config
        self.model = build_model(arch=self.config["arch"], tile_size=self.config["tile_size"], pretrained="none",
                                 in_channels=len(self.config["bands"]),
                                 input_scale=self.config.get("input_scale", 1.0), state_dict=weights.state_dict)

    def predict(self, context: Any, model_input: np.ndarray, params: dict[str, Any] | None = None
                ) -> list[list[dict]]:
        """Tiles (N x bands x H x W, or a list of bands x H x W arrays) -> each tile's instances; ``params``:
        ``score_threshold``.

        ``np.ndarray`` is a hint MLflow infers no signature from: a list hint would give an inferred signature
        without the params schema that ``DetectorModelDataset`` declares, and MLflow would drop every
        ``params`` a caller passes."""
        from footprints.model.engine import resolve_device
        from footprints.model.predict import predict_tiles

        results = predict_tiles(self.model, enumerate(model_input), self.config["bands"], self.config["mean"],
                                self.config["std"], resolve_device("auto"), progress=False,
                                score_threshold=(params or {}).get("score_threshold", 0.5))
        return [[{"mask": inst.mask, "class_id": inst.class_id, "score": inst.score,
                  "class_scores": inst.class_scores} for inst in instances] for _, instances in results]

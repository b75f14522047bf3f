"""``DetectorModelDataset``: the MLflow pyfunc model, logged with a signature that declares its params.

MLflow passes ``params`` to a pyfunc's ``predict`` only when the model's signature lists them; without one it
drops ``params={"score_threshold": ...}`` with a warning, and a user of the registry cannot change the
threshold. kedro-mlflow's ``MlflowModelTrackingDataset`` takes the signature in its ``save_args``, which YAML
cannot build, so this subclass adds it through that public constructor argument.
"""

from __future__ import annotations

from typing import Any

from kedro_mlflow.io.models import MlflowModelTrackingDataset

DEFAULT_SCORE_THRESHOLD = 0.5


def detector_signature() -> Any:
    """No input schema (a list of tiles, bands x H x W arrays, which MLflow's schemas cannot describe) and one
    parameter, ``score_threshold``."""
    from mlflow.models import ModelSignature
    from mlflow.types import ParamSchema, ParamSpec

    return ModelSignature(params=ParamSchema([ParamSpec("score_threshold", "double", DEFAULT_SCORE_THRESHOLD)]))


class DetectorModelDataset(MlflowModelTrackingDataset):
    """``MlflowModelTrackingDataset`` whose ``save_args`` carry ``detector_signature()``.

    Example catalog entry::

        registered_model:
          type: footprints.datasets.detector_model.DetectorModelDataset
          flavor: mlflow.pyfunc
          pyfunc_workflow: python_model
          save_args:
            name: detector
            artifacts: {weights: data/06_models/model.safetensors}
    """

    def __init__(self, *, save_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(save_args={**(save_args or {}), "signature": detector_signature()}, **kwargs)

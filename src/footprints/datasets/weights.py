"""``ModelWeightsDataset``: a trained model as one safetensors file that carries its own configuration."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset
from kedro_datasets._typing import JSONPreview

from footprints.errors import InputError
from footprints.model.weights import ModelWeights, WeightsError, read_weights, save_weights

MLFLOW_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/")


class ModelWeightsDataset(AbstractDataset[ModelWeights, ModelWeights | None]):
    """Model weights in safetensors (no pickle: safe to load from a colleague's run), config in its metadata.

    ``model_uri`` makes ``load`` read another source than ``filepath``: a local file, or an MLflow URI
    (``runs:/<run_id>/model``, ``models:/<name>/<version>``). Set it per run with ``--params model_uri=...``
    through the ``runtime_params`` resolver, as below. Saving always writes ``filepath``, atomically. With
    ``optional: true`` and no source (no ``model_uri``, no file at ``filepath``), ``load`` gives ``None`` (e.g.
    "no weights to fine-tune from").

    Example catalog entries::

        model_weights:
          type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
          artifact_path: model
          dataset:
            type: footprints.datasets.weights.ModelWeightsDataset
            filepath: data/06_models/model.safetensors
            model_uri: ${runtime_params:model_uri,null}

        initial_weights:
          type: footprints.datasets.weights.ModelWeightsDataset
          model_uri: ${runtime_params:init_model_uri,null}
          optional: true
    """

    def __init__(self, *, filepath: str | None = None, model_uri: str | None = None, optional: bool = False,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath) if filepath else None
        self._model_uri = model_uri
        self._optional = optional
        self.metadata = metadata

    def load(self) -> ModelWeights | None:
        source = self._model_uri or (str(self._filepath) if self._filepath else None)
        if self._optional and not self._model_uri and (self._filepath is None or not self._filepath.is_file()):
            return None  # e.g. no weights to fine-tune from, or no starter model in this checkout
        try:
            if source and source.startswith(MLFLOW_SCHEMES):
                with tempfile.TemporaryDirectory() as tmp:
                    return _checked(read_weights(_download(source, tmp), source))
            return _checked(read_weights(source or "", source))
        except WeightsError as err:
            missing = source is None or not (source.startswith(MLFLOW_SCHEMES) or Path(source).is_file())
            advice = ("; train first (kedro run --pipelines training), or name another model: a .safetensors "
                      "file or an MLflow URI such as runs:/<run_id>/model (MODEL of footprints predict, "
                      "--params model_uri=... of kedro run)" if missing else
                      "; give a .safetensors file written by the training pipeline (e.g. "
                      "data/06_models/model.safetensors or the starter model in models/) or an MLflow URI")
            raise InputError(f"{err}{advice}") from None

    def save(self, data: ModelWeights) -> None:
        if self._filepath is None:
            raise InputError("ModelWeightsDataset without filepath cannot save")
        save_weights(data, self._filepath)

    def _exists(self) -> bool:
        return bool(self._model_uri) or bool(self._filepath and self._filepath.is_file())

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "model_uri": self._model_uri, "optional": self._optional}

    def preview(self) -> JSONPreview:
        """The model configuration stored with the weights."""
        return JSONPreview(json.dumps(read_weights(self._filepath).config))


def _checked(weights: ModelWeights) -> ModelWeights:
    if weights.config is None:
        raise WeightsError(f"{weights.source} has no footprints model config (not written by the training "
                           "pipeline)")
    return weights


def _download(model_uri: str, dst: str) -> Path:
    """The weights file behind an MLflow URI, downloaded into ``dst``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst))
    except (MlflowException, OSError) as err:
        raise WeightsError(f"model_uri {model_uri}: cannot fetch it from MLflow "
                           f"({str(err).splitlines()[0]})") from None
    files = sorted(local.rglob("*.safetensors")) if local.is_dir() else [local]
    if not files:
        raise WeightsError(f"model_uri {model_uri}: no .safetensors file there")
    return files[0]

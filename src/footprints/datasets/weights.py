"""``ModelWeightsDataset``: a trained model as one safetensors file that carries its own configuration."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset
from kedro_datasets._typing import JSONPreview
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from footprints.atomic import atomic_path
from footprints.errors import InputError

CONFIG_KEY = "footprints_config"


@dataclass
class ModelWeights:
    """A state_dict and what is needed to rebuild and feed the model: arch, tile size, bands, normalisation."""

    state_dict: dict[str, Any]
    config: dict[str, Any]
    source: str = ""

    @property
    def fingerprint(self) -> str:
        """Content hash of the weights: predictions made by the same weights can be recognised and reused."""
        digest = hashlib.sha256()
        for key in sorted(self.state_dict):
            digest.update(key.encode())
            digest.update(self.state_dict[key].cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]


class ModelWeightsDataset(AbstractDataset[ModelWeights, ModelWeights]):
    """Model weights in safetensors (no pickle: safe to load from a colleague's run), config in its metadata.

    ``model_uri`` makes ``load`` fetch the file from MLflow instead of ``filepath``: ``runs:/<run_id>/model``
    or ``models:/<name>/<version>``. Set it per run with ``--params model_uri=...`` through the
    ``runtime_params`` resolver, as in the catalog entry below. Saving always writes ``filepath`` (atomically).

    Example catalog entry::

        model_weights:
          type: kedro_mlflow.io.artifacts.MlflowArtifactDataset
          artifact_path: model
          dataset:
            type: footprints.datasets.weights.ModelWeightsDataset
            filepath: data/06_models/model.safetensors
            model_uri: ${runtime_params:model_uri,null}
    """

    def __init__(self, *, filepath: str, model_uri: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._model_uri = model_uri
        self.metadata = metadata

    def load(self) -> ModelWeights:
        if self._model_uri:
            with tempfile.TemporaryDirectory() as tmp:
                return read_weights(_download(self._model_uri, tmp), self._model_uri)
        return read_weights(self._filepath, str(self._filepath))

    def save(self, data: ModelWeights) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in data.state_dict.items()}
        with atomic_path(self._filepath) as tmp:
            save_file(state, tmp, metadata={CONFIG_KEY: json.dumps(data.config)})

    def _exists(self) -> bool:
        return bool(self._model_uri) or self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "model_uri": self._model_uri}

    def preview(self) -> JSONPreview:
        """The model configuration stored with the weights."""
        return JSONPreview(json.dumps(read_weights(self._filepath, str(self._filepath)).config))


def read_weights(path: Path, source: str) -> ModelWeights:
    """Tensors and config of a weights file; a missing or foreign file is one clear error naming it."""
    if not Path(path).is_file():
        raise InputError(f"weights file {source} not found: train first (kedro run --pipeline training) "
                         "or pass --params model_uri=runs:/<run_id>/model")
    try:
        with safe_open(path, framework="pt") as handle:
            config = json.loads((handle.metadata() or {}).get(CONFIG_KEY, "null"))
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError) as err:
        raise InputError(f"{source}: not a readable safetensors weights file ({err})") from None
    if config is None:
        raise InputError(f"{source}: safetensors file without a footprints model config; "
                         "it was not written by the training pipeline")
    return ModelWeights(state, config, source)


def _download(model_uri: str, dst: str) -> Path:
    """The weights file behind an MLflow URI, downloaded into ``dst``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst))
    except (MlflowException, OSError) as err:
        raise InputError(f"model_uri {model_uri}: cannot fetch it from MLflow "
                         f"({str(err).splitlines()[0]})") from None
    files = sorted(local.rglob("*.safetensors")) if local.is_dir() else [local]
    if not files:
        raise InputError(f"model_uri {model_uri}: no .safetensors file there")
    return files[0]

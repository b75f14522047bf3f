"""``ActiveRunDataset``: the MLflow run this Kedro run logs to, as a node input (nodes stay pure)."""

from __future__ import annotations

from typing import Any

import mlflow
from kedro.io import AbstractDataset


class ActiveRunDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads ``{"run_id": ..., "experiment_id": ...}`` of the active MLflow run (``None`` values outside one).

    Predictions record the run that produced them through it. Example catalog entry::

        mlflow_run:
          type: footprints.datasets.mlflow_run.ActiveRunDataset
    """

    def __init__(self, *, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        run = mlflow.active_run()
        return {"run_id": run.info.run_id if run else None,
                "experiment_id": run.info.experiment_id if run else None}

    def save(self, data: None) -> None:
        raise NotImplementedError("ActiveRunDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {}

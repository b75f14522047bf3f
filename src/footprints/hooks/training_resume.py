"""A training run that resumes from its epoch checkpoint logs into the MLflow run it started, not a new one.

The training node saves, beside each epoch checkpoint, the MLflow run it logs to and its parameters
(``footprints.model.checkpoint``). Before kedro-mlflow opens a run, this hook looks for such a sidecar whose
parameters are the current ones and hands its run to kedro-mlflow through ``MLFLOW_RUN_ID`` (the variable
a user sets to add a run to an earlier one); it is put back as it was when the pipeline ends.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from footprints.model.checkpoint import run_params

log = logging.getLogger(__name__)


def unfinished_run(folder: str | os.PathLike, params: dict[str, Any]) -> str | None:
    """The MLflow run of the newest checkpoint in ``folder`` that was written with these training ``params``."""
    kept = run_params(params)
    sidecars = sorted(Path(folder).glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    for sidecar in sidecars:
        try:
            about = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if about.get("params") == kept and about.get("mlflow_run_id"):
            return about["mlflow_run_id"]
    return None


class ResumeTrainingRun:
    """Set ``MLFLOW_RUN_ID`` to an interrupted training run's MLflow run before kedro-mlflow starts one."""

    def __init__(self) -> None:
        self._set = False

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if os.environ.get("MLFLOW_RUN_ID") or "params:training" not in pipeline.inputs():
            return
        params = catalog.load("params:training")
        run_id = params.get("checkpoint_dir") and unfinished_run(params["checkpoint_dir"], params)
        if run_id:
            log.info("resuming the interrupted training run: logging to MLflow run %s", run_id)
            self._set = True
            os.environ["MLFLOW_RUN_ID"] = run_id

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._set:
            os.environ.pop("MLFLOW_RUN_ID", None)
            self._set = False

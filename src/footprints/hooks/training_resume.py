"""A training run that resumes from its epoch checkpoint logs into the MLflow run it started, not a new one.

The training node saves, beside each epoch checkpoint, the MLflow run it logs to and its parameters
(``footprints.model.checkpoint``). Before kedro-mlflow opens a run, this hook looks for such a checkpoint whose
parameters are the current training ones, and hands its MLflow run to kedro-mlflow through ``MLFLOW_RUN_ID``
(the variable a user sets to add to an earlier run), put back as it was when the pipeline ends. The run is
continued only if it still exists, did not finish, and every parameter it logged has the value this run will
log (MLflow refuses a changed one: a resume with other speed settings, say, gets a new run instead, and its
weights still resume from the checkpoint).
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
    """The MLflow run of the newest checkpoint in ``folder`` written with these training ``params``."""
    kept = run_params(params)
    sidecars = sorted(Path(folder).glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    for sidecar in sidecars:
        if not sidecar.with_suffix(".pt").is_file():  # a checkpoint removed by hand leaves nothing to resume
            continue
        try:
            about = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            continue
        if about.get("params") == kept and about.get("mlflow_run_id"):
            return about["mlflow_run_id"]
    return None


def continuable(run_id: str, parameters: dict[str, Any]) -> bool:
    """Whether MLflow run ``run_id`` exists, is not finished, and logged no parameter with another value."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException:
        return False
    now = _flat(parameters)
    logged = run.data.params
    return run.info.status != "FINISHED" and all(now[k] == v for k, v in logged.items() if k in now)


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Parameters as kedro-mlflow logs them: nested keys joined by dots, values as text."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


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
        if run_id and continuable(run_id, catalog.load("parameters")):
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

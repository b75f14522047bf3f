"""MLflow run names, tags and model cards that say what ran, from which weights, on which data.

kedro-mlflow starts and ends the run; this hook only describes it, through ``MlflowClient`` calls on the run
id it finds when the pipeline starts (so hook order does not matter).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

from kedro.framework.hooks import hook_impl

from footprints.classes import CLASS_NAMES
from footprints.evaluation.provenance import model_card

log = logging.getLogger(__name__)

TRAIN_NODE = "train_mask_rcnn"
REPORT_NODE = "write_report_and_metrics"
TAG = "footprints."


class MlflowRunDescription:
    """Names the run ``<pipelines> | <arch> from <origin>, <n> tiles``, tags it (pipelines, weights origin,
    data fingerprint, git commit) and gives each model version this run registered a model card."""

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._pipelines = ""
        self._config: dict[str, Any] | None = None
        self._scores: dict[str, float] | None = None

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        # An untracked pipeline never imports MLflow (mlflow_tracking.py): then there is no run to describe,
        # and importing MLflow here would cost every preprocessing or labels run a second.
        mlflow = sys.modules.get("mlflow")
        run = mlflow.active_run() if mlflow else None
        self._run_id = run.info.run_id if run else None
        self._config, self._scores = None, None
        self._pipelines = "+".join(run_params.get("pipeline_names") or ["__default__"])
        self._tag({"pipelines": self._pipelines, "git_commit": git_commit()}, name=self._pipelines)

    @hook_impl
    def after_node_run(self, node, outputs: dict[str, Any]) -> None:
        if self._run_id is None:
            return
        if node.name == TRAIN_NODE:
            self._config = outputs["model_weights"].config
            trained = outputs["training_provenance"]
            self._tag({"weights_origin": trained["weights_origin"], "data_fingerprint": trained["data_fingerprint"],
                       "train_tiles": trained["train_tiles"], "train_instances": trained["train_instances"]},
                      name=f"{self._pipelines} | {trained['arch']} from {_short(trained['weights_origin'])}, "
                           f"{trained['train_tiles']} tiles, {trained['epochs']} epochs")
        elif node.name == REPORT_NODE:
            self._scores = {name: values[0]["value"] for name, values in outputs["evaluation_metrics"].items()
                            if name in ("f1_all_buildings", "precision_all_buildings", "recall_all_buildings",
                                        "mask_map", "mask_map_50")}

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Describe every model version registered from this run (the training pipeline registers one)."""
        if self._run_id is None or self._config is None:
            return
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        client = MlflowClient()
        try:
            versions = client.search_model_versions(f"run_id='{self._run_id}'")
            for version in versions:
                client.update_model_version(version.name, version.version,
                                            description=model_card(self._config, CLASS_NAMES, self._scores))
        except MlflowException as error:  # a tracking server without a registry: the run is still complete
            log.warning("could not write the model card: %s", str(error).splitlines()[0])

    def _tag(self, tags: dict[str, Any], name: str) -> None:
        if self._run_id is None:
            return
        from mlflow import MlflowClient

        client = MlflowClient()
        for key, value in tags.items():
            client.set_tag(self._run_id, TAG + key, str(value))
        client.set_tag(self._run_id, "mlflow.runName", name)


def git_commit() -> str:
    """The project's commit (``+dirty`` with uncommitted changes), or ``unknown`` outside a git checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _short(origin: str) -> str:
    """``scratch``, ``COCO`` or ``fine-tuned`` (the full origin is in the tag and the model card)."""
    return origin.split(" ", 1)[0].rstrip(":")

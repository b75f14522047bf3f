"""Kedro hooks of the project."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from footprints.errors import InputError
from footprints.torchrun import launched_rank, launched_world_size

DISTRIBUTED_PIPELINE = "training"


class TorchrunHook:
    """Under ``torchrun``, one Kedro run per process, but one set of outputs: rank 0's.

    Every process loads the same inputs and trains; on the other ranks every output of the run is swapped for
    a memory dataset before the run starts, so they write no file and log no artifact (an MLflow dataset
    saved without a run would start one). kedro-mlflow's own hook is not loaded on those ranks at all
    (settings.py), so rank 0 alone opens the MLflow store and holds the one MLflow run. Only the training
    pipeline is distributed: anything else would be done N times over.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog) -> None:
        if launched_world_size() <= 1:
            return
        from kedro.framework.project import pipelines  # the registry, only needed under torchrun

        others = sorted(node.name for node in set(pipeline.nodes) - set(pipelines[DISTRIBUTED_PIPELINE].nodes))
        if others:
            raise InputError(
                f"torchrun runs only the {DISTRIBUTED_PIPELINE} pipeline, not {', '.join(others)}: run the other "
                f"pipelines with plain `kedro run`, then `torchrun ... -m footprints --pipelines "
                f"{DISTRIBUTED_PIPELINE}` (docs/training_distributed.md)"
            )
        if launched_rank() != 0:
            for name in pipeline.all_outputs():
                catalog[name] = MemoryDataset(copy_mode="assign")

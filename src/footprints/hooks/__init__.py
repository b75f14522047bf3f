"""Project hooks, registered in ``settings.py``: one module per concern."""

from footprints.hooks.dask_client import DaskHook
from footprints.hooks.mlflow_tracking import TrackedRunsMlflowHook, UntrackedRank
from footprints.hooks.project_checks import ProjectChecks
from footprints.hooks.run_description import MlflowRunDescription
from footprints.hooks.torchrun import TorchrunHook
from footprints.hooks.training_resume import ResumeTrainingRun

__all__ = ["DaskHook", "MlflowRunDescription", "ProjectChecks", "ResumeTrainingRun", "TorchrunHook",
           "TrackedRunsMlflowHook", "UntrackedRank"]

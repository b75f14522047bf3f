"""Project settings: configuration layout, the project's hooks (the Dask client among them), and kedro-mlflow's
hook set up only for tracked pipelines (and only on rank 0 under torchrun)."""

import logging
import os
import sys
from pathlib import Path

from kedro.config import MissingConfigException, OmegaConfigLoader
from kedro.utils import find_kedro_project

from footprints.deferred_cli import defer_mlflow_commands
from footprints.quiet import rich_logging_on_terminals, silence_known_warnings

logging.captureWarnings(True)  # warnings become log records (py.warnings), whichever handler logs them
silence_known_warnings()
rich_logging_on_terminals()
# Kedro imports this module before the plugins' commands: kedro-mlflow's would import MLflow for every
# `kedro` command (1.1 s, 140 MB); its `kedro mlflow` commands now load it when they run.
defer_mlflow_commands()

from footprints.hooks import (DaskHook, MlflowRunDescription, ProjectChecks, ResumeTrainingRun, TorchrunHook,
                              TrackedRunsMlflowHook, UntrackedRank)
from footprints.torchrun import launched_rank


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's loader, except that credentials in ``conf/local`` count in every environment.

    Kedro reads ``conf/local`` only when it is the run environment, so ``kedro run --env postgis`` would not
    see the database password a user keeps there; this is the one place credentials may live besides
    environment variables.
    """

    def __getitem__(self, key: str):
        config = super().__getitem__(key)
        if key != "credentials" or (self.env or self.default_run_env) == "local":
            return config
        local = OmegaConfigLoader(self.conf_source, base_env="local", default_run_env="local")
        try:
            return {**config, **local["credentials"]}
        except MissingConfigException:
            return config


CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # The postgis environment overrides base; it inherits everything it does not name.
    "config_patterns": {
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
        "credentials": ["credentials*", "credentials*/**"],
        "dask": ["dask*", "dask*/**"],
    },
}


# MLflow 3 refuses the ./mlruns file store that kedro-mlflow falls back to; default to a local SQLite store
# in the project folder, while an MLFLOW_TRACKING_URI set by the user (a remote server) still wins. The path
# is absolute: a notebook's kernel (or `kedro run` started in a subfolder) runs below the project folder.
_PROJECT = find_kedro_project(Path.cwd()) or Path.cwd()
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{(_PROJECT / 'mlflow.db').as_posix()}")
# MLflow's artifact progress bar is one long carriage-return line in a log file or CI log: only on a terminal.
if not sys.stderr.isatty():
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# kedro-telemetry (pulled in by kedro-viz) would try to reach the network: the project opts out.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
# Dask's scheduler and workers log every start, plugin and shutdown at INFO (~60 lines a run); Dask reads
# this when it is first imported (a task's first run). Its warnings (lost workers, memory) still show.
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")

# kedro-mlflow's auto-registered hook connects to the tracking store on every run; this wrapper builds it only
# for runs of tracked pipelines (see footprints/hooks/mlflow_tracking.py). MlflowRunDescription names and tags
# that run and writes the model card.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")  # both spellings of the plugin's name
# Under torchrun only rank 0 tracks (the other ranks would open the store and start runs of their own), and
# TorchrunHook keeps the other ranks from writing outputs.
_TRACKING = (TrackedRunsMlflowHook(), MlflowRunDescription()) if launched_rank() == 0 else (UntrackedRank(),)
# ProjectChecks (run lock, parameter checks, damaged MLflow store, temp files of killed runs) is registered
# last, so pluggy calls it first.
# DaskHook owns the run's Dask client (conf/<env>/dask.yml), set up like the PySpark starter's SparkSession.
# ResumeTrainingRun comes after the tracking hooks, so pluggy calls it before they open an MLflow run.
HOOKS = (*_TRACKING, ResumeTrainingRun(), TorchrunHook(), DaskHook(), ProjectChecks())

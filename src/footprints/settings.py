"""Project settings: configuration layout, the project's hooks and which plugin hooks run (under torchrun)."""

import os

from kedro.config import MissingConfigException, OmegaConfigLoader

from footprints.hooks import TorchrunHook
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


HOOKS = (TorchrunHook(),)
# Under torchrun only rank 0 tracks: kedro-mlflow would open the MLflow store and start a run in every process.
if launched_rank() != 0:
    DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")  # the name as its metadata spells it

CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # The postgis environment overrides base; it inherits everything it does not name.
    "config_patterns": {
        "parameters": ["parameters*", "parameters*/**", "**/parameters*"],
        "credentials": ["credentials*", "credentials*/**"],
    },
}

# MLflow 3 refuses the ./mlruns file store that kedro-mlflow falls back to; default to a local SQLite store
# in the project folder, while an MLFLOW_TRACKING_URI set by the user (a remote server) still wins.
os.environ.setdefault("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
# kedro-telemetry (pulled in by kedro-viz) would try to reach the network: the project opts out.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

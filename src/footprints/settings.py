"""Project settings: configuration layout and the hooks kedro-mlflow brings in by itself."""

import os

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
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

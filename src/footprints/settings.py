"""Project settings: configuration layout and the hooks kedro-mlflow brings in by itself."""

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

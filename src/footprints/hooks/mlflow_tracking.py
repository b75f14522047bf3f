"""kedro-mlflow, set up only when a run includes a pipeline that MLflow tracks.

kedro-mlflow's own hook connects to the tracking store (SQLAlchemy, schema check of ``mlflow.db``) as soon as
the Kedro context exists, before it knows which pipeline runs: about a second on every ``kedro run``, also of
``preprocessing`` and ``labels``, which ``conf/base/mlflow.yml`` leaves untracked. ``settings.py`` switches
the plugin's auto-registered hook off and registers this one instead: it remembers the context and catalog,
and when ``before_pipeline_run`` sees a tracked pipeline it builds kedro-mlflow's hook, replays the two
earlier hooks into it and forwards the rest, so tracked runs behave exactly as with the plugin's hook.

This hook registers under the plugin's entry point name: pluggy loads no entry point whose name is already
registered, so kedro-mlflow's hook module (which imports MLflow: 1.1 s, 140 MB) is not even imported by runs
that track nothing. Kedro would import it and only then unregister it.
"""

from __future__ import annotations

from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

MLFLOW_CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]  # the patterns kedro-mlflow adds
PLUGIN_HOOK_NAME = "mlflow_hook"  # kedro-mlflow's entry point in the ``kedro.hooks`` group


class TrackedRunsMlflowHook:
    """kedro-mlflow's ``MlflowHook``, created at ``before_pipeline_run`` and only for tracked pipelines."""

    def __init__(self) -> None:
        self.__name__ = PLUGIN_HOOK_NAME  # pluggy's name for this hook: the plugin's entry point is skipped
        self._context: Any = None
        self._catalog_args: dict[str, Any] = {}
        self._inner: Any = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._context, self._inner = context, None

    @hook_impl
    def after_catalog_created(self, catalog, conf_catalog, conf_creds, parameters, save_version,
                              load_versions) -> None:
        self._catalog_args = {"catalog": catalog, "conf_catalog": conf_catalog, "conf_creds": conf_creds,
                              "parameters": parameters, "save_version": save_version,
                              "load_versions": load_versions}

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if not self._tracked(run_params):
            return
        from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook

        self._inner = MlflowHook()
        self._inner.after_context_created(context=self._context)
        self._inner.after_catalog_created(**self._catalog_args)
        self._inner.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async) -> None:
        if self._inner:
            self._inner.before_node_run(node=node, catalog=catalog, inputs=inputs, is_async=is_async)

    @hook_impl
    def after_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if self._inner:
            self._inner.after_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        if self._inner:
            self._inner.on_pipeline_error(error=error, run_params=run_params, pipeline=pipeline,
                                          catalog=catalog)

    def _tracked(self, run_params: dict[str, Any]) -> bool:
        """kedro-mlflow's rule: tracked unless every pipeline run is in ``disable_tracking.pipelines``."""
        names = run_params.get("pipeline_names") or run_params.get("pipeline_name") or ["__default__"]
        names = [names] if isinstance(names, str) else names
        loader = self._context.config_loader
        loader.config_patterns.setdefault("mlflow", MLFLOW_CONFIG_PATTERNS)
        try:
            config = loader["mlflow"]
        except MissingConfigException:  # no mlflow.yml: kedro-mlflow tracks everything with its defaults
            return True
        disabled = ((config or {}).get("tracking") or {}).get("disable_tracking", {}).get("pipelines") or []
        return not all(name in disabled for name in names)


class UntrackedRank:
    """No hooks: holds kedro-mlflow's hook name on the torchrun ranks other than 0, which do not track, so that
    pluggy skips the plugin's entry point there too (importing it would import MLflow)."""

    def __init__(self) -> None:
        self.__name__ = PLUGIN_HOOK_NAME

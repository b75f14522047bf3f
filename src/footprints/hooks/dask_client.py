"""Project hooks: the run's Dask client, created from ``conf/<env>/dask.yml`` like Kedro's PySpark starter
creates its SparkSession from ``spark.yml``."""

from __future__ import annotations

from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from footprints.distributed import close_client, dask_settings, start_client


class DaskHook:
    """Start a Dask client before the pipeline runs and close it after, also when a node fails.

    The settings are read when the context is created (so a bad ``dask.yml`` fails before any node runs); the
    cluster starts only for ``kedro run``, not for ``kedro viz`` or ``kedro catalog``.
    """

    def __init__(self) -> None:
        self._settings: dict[str, Any] | None = None
        self._client = None

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            config = context.config_loader["dask"]
        except MissingConfigException:
            config = {"enabled": False}
        self._settings = dask_settings(config)

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._close()
        self._client = start_client(self._settings or {"enabled": False})

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._close()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._close()

    def _close(self) -> None:
        client, self._client = self._client, None
        close_client(client)

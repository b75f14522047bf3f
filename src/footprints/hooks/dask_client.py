"""Project hooks: the run's Dask client, created from ``conf/<env>/dask.yml`` like Kedro's PySpark starter
creates its SparkSession from ``spark.yml``."""

from __future__ import annotations

from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from footprints.distributed import close_started, dask_settings, start_on_first_task


class DaskHook:
    """Give the run its Dask client, started by the first task a node submits, and close it after the run,
    also when a node fails.

    The settings are read when the context is created (so a bad ``dask.yml`` fails before any node runs); the
    cluster starts only during ``kedro run``, never for ``kedro viz`` or ``kedro catalog``, and only once a
    node has work for it.
    """

    def __init__(self) -> None:
        self._settings: dict[str, Any] | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            config = context.config_loader["dask"]
        except MissingConfigException:
            config = {"enabled": False}
        self._settings = dask_settings(config)

    @hook_impl
    def before_pipeline_run(self) -> None:
        start_on_first_task(self._settings or {"enabled": False})

    @hook_impl
    def after_pipeline_run(self) -> None:
        close_started()

    @hook_impl
    def on_pipeline_error(self) -> None:
        close_started()

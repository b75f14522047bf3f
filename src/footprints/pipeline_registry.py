"""Pipelines of the project; ``__default__`` runs them all in data-flow order, except ``predict`` (new imagery
with a model trained earlier: ``footprints predict`` or ``kedro run --pipelines predict``)."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines()
    pipelines["__default__"] = sum((p for name, p in pipelines.items() if name != "predict"), Pipeline([]))
    return pipelines

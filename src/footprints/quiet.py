"""Known third-party warnings that every command would print, silenced one by one, and plain log lines.

Each filter names the warning's category, the start of its message and the module that issues it, so any
other warning (and a new one from these libraries) still shows. ``settings.py`` installs them; Kedro
imports it while bootstrapping the project, before the plugins import MLflow.
"""

from __future__ import annotations

import logging
import sys
import warnings

KNOWN_WARNINGS = [
    # kedro and kedro-mlflow register their config resolvers with the OmegaConf call that 2.4 deprecates
    (UserWarning, r"register_new_resolver\(\) is deprecated", r"kedro"),
    # GDAL's GeoPackage driver wants a .gpkg name; our atomic writes go to a hidden .part file renamed after
    (RuntimeWarning, r"The filename extension should be 'gpkg' instead of 'part'", r"pyogrio\."),
]
# MLflow checks every PythonModel subclass (kedro-mlflow's pipeline model, our detector) for data-validation
# type hints inside ``simplefilter("once")``, which overrides any warnings filter: these are dropped from
# the ``py.warnings`` logger that Kedro routes warnings to. Tiles are numpy arrays, which MLflow's schema
# inference does not support, so no hint and no input example would satisfy it (the detector's signature
# declares its params only: ``datasets/detector_model.py``).
MLFLOW_TYPE_HINT_NOTES = ("Add type hints to the `predict` method", "Any type hint is inferred as AnyType",
                          "An input example was not provided when logging the model")
# The detector is logged as a Python object on purpose: its weights stay a safetensors artifact and the
# wrapper only rebuilds the network (see ``model/mlflow_model.py``).
MLFLOW_PICKLE_NOTE = "Passing a Python object as `python_model`"


class DropMessages(logging.Filter):
    """Drops log records whose message contains one of ``texts`` (a library's known, harmless notes)."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.texts)


def silence_known_warnings() -> None:
    """Install the filters of ``KNOWN_WARNINGS`` and drop MLflow's known notes from its log records.

    The type-hint notes are dropped only where warnings go through logging (``logging.captureWarnings``,
    which ``settings.py`` turns on and Kedro's rich handler turns on too).
    """
    for category, message, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    for logger, texts in (("py.warnings", MLFLOW_TYPE_HINT_NOTES), ("mlflow.pyfunc", (MLFLOW_PICKLE_NOTE,))):
        _add_once(logging.getLogger(logger), DropMessages(texts))


def _add_once(logger: logging.Logger, drop: DropMessages) -> None:
    """Attach ``drop`` unless an equal filter is already there (settings may be imported again in tests)."""
    if not any(isinstance(f, DropMessages) and f.texts == drop.texts for f in logger.filters):
        logger.addFilter(drop)


def rich_logging_on_terminals() -> None:
    """Use Kedro's rich handler when stdout is a terminal; elsewhere keep ``conf/logging.yml``'s plain one.

    Rich wraps every record at the console width (80 columns when writing to a file or a CI log), which
    splits one log line over several; the plain handler writes one line per record.
    """
    from kedro.framework.project import LOGGING

    root = LOGGING.data.get("root", {})
    if sys.stdout.isatty() and "rich" in LOGGING.data.get("handlers", {}) and root.get("handlers") != ["rich"]:
        LOGGING.configure({**LOGGING.data, "root": {**root, "handlers": ["rich"]}})

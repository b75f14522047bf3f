"""The known third-party warnings are silenced one by one; others still show."""

import logging
import warnings

from footprints.quiet import DropMessages, silence_known_warnings


def _warn(message: str, category: type[Warning], module: str) -> None:
    warnings.warn_explicit(message, category, filename=f"{module.replace('.', '/')}.py", lineno=1,
                           module=module)


PART = "The filename extension should be 'gpkg' instead of 'part' to conform"


def test_known_warnings_are_filtered_by_message_category_and_module():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_warnings()
        _warn(PART, RuntimeWarning, "pyogrio.raw")
        _warn("register_new_resolver() is deprecated and will be removed", UserWarning, "kedro.config.x")
        # the same text from elsewhere, or another message from the same library, still shows
        _warn(PART, RuntimeWarning, "ours")
        _warn("The filename extension should be 'gpkg' instead of 'tif'", RuntimeWarning, "pyogrio.raw")
    assert [(str(w.message)[-10:], w.filename) for w in caught] == [
        ("to conform", "ours.py"), ("d of 'tif'", "pyogrio/raw.py")]


def test_mlflow_notes_are_dropped_from_their_loggers_only():
    silence_known_warnings()
    text = "data_validation.py:187: UserWarning: \x1b[33mAdd type hints to the `predict` method"
    record = logging.LogRecord("py.warnings", logging.WARNING, "x.py", 1, text, None, None)
    other = logging.LogRecord("py.warnings", logging.WARNING, "x.py", 1, "UserWarning: something new", None, None)
    logger = logging.getLogger("py.warnings")
    assert [f.filter(record) for f in logger.filters if isinstance(f, DropMessages)] == [False]  # once only
    assert all(f.filter(other) for f in logger.filters)
    assert sum(isinstance(f, DropMessages) for f in logging.getLogger("mlflow.pyfunc").filters) == 1

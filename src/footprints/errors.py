"""Errors users see: one line that names the file, feature or setting at fault and what to do.

``user_errors`` is how every command of the project (``kedro run`` through ``footprints.cli``, and the
project's own console commands) shows them: a user error is one line on stderr and its full traceback goes to
``logs/last_error.log`` (``--verbose`` prints it too); any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from kedro.io import DatasetError

ERROR_LOG = Path("logs/last_error.log")
VERBOSE_HELP = f"Print the traceback of a user error too (it always goes to {ERROR_LOG})."


class InputError(DatasetError, ValueError):
    """Bad input data or settings. Subclasses DatasetError so Kedro passes the message on unwrapped."""


class ParameterError(InputError):
    """A parameter outside what is allowed, refused before any work (names the parameter, value, allowed)."""


def user_error(error: BaseException) -> BaseException | None:
    """The ``InputError`` behind ``error`` (itself, or a cause Kedro or a library wrapped), else ``None``."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, InputError):
            return error
        error = error.__cause__ or error.__context__
    return None


def one_line(error: BaseException) -> str:
    """The message of a user error on one line; Kedro's ``<dataset>: `` prefix is kept when it added one."""
    cause = user_error(error) or error
    message = str(error) if str(error).endswith(str(cause)) else str(cause)
    return " ".join(message.split())


@contextlib.contextmanager
def user_errors(verbose: bool = False, log_path: Path = ERROR_LOG) -> Iterator[None]:
    """Show a user error as one line and exit 1; let programming errors through with their traceback.

    The traceback of a user error is written to ``log_path`` (relative to the working directory: the project
    folder for ``kedro run``), and printed as well with ``verbose``.
    """
    try:
        yield
    except Exception as error:  # noqa: BLE001 - sorted below: anything not ours is re-raised untouched
        if user_error(error) is None:
            raise
        text = "".join(traceback.format_exception(error))
        where = _write_traceback(log_path, text)
        if verbose:
            sys.stderr.write(text)
        sys.stderr.write(f"Error: {one_line(error)}{f' (traceback: {where})' if where else ''}\n")
        raise SystemExit(1) from None


def _write_traceback(path: Path, text: str) -> Path | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError:  # a read-only folder must not hide the message itself
        return None
    return path

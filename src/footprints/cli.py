"""Project CLI: Kedro's ``kedro run``, with user errors shown as one line instead of a traceback.

Kedro picks up ``<package>.cli:cli`` and lets its commands override the built-in ones, so ``kedro run`` keeps
every option of Kedro's own and gains ``--verbose``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from footprints.errors import VERBOSE_HELP, user_errors


def with_user_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a click callback in :func:`footprints.errors.user_errors`; it takes the ``verbose`` flag."""
    @functools.wraps(callback)
    def wrapper(*args: Any, verbose: bool = False, **kwargs: Any) -> Any:
        with user_errors(verbose=verbose):
            return callback(*args, **kwargs)
    return wrapper


@click.group(name="footprints")
def cli() -> None:
    """Commands of the footprints project."""


cli.add_command(click.Command(
    name="run",
    params=[*kedro_run.params, click.Option(["--verbose"], is_flag=True, help=VERBOSE_HELP)],
    callback=with_user_errors(kedro_run.callback),
    help=kedro_run.help,
    short_help=kedro_run.short_help,
))

run = cli.commands["run"]  # what kedro.framework.cli.utils.find_run_command looks up (python -m footprints)

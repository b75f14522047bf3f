"""The ``footprints`` command: ``footprints [run] [kedro run options]`` (the default) and ``footprints predict``.

``python -m footprints --pipelines training`` is ``kedro run --pipelines training`` (what ``torchrun -m
footprints`` starts in every process); ``footprints predict MODEL IMAGES... --out DIR`` predicts new imagery.
"""

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from footprints.predict_command import predict


@click.group()
def cli() -> None:
    """Building footprints from aerial GeoTIFFs. Without a command: `run` (the whole default pipeline)."""


class _KedroRun(click.Command):
    """``footprints run [kedro run options]``: Kedro's own run command (the project's, with one-line user
    errors), found when it is called so that ``footprints predict`` does not load it."""

    def __init__(self) -> None:
        super().__init__("run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                         help="Run pipelines, exactly as `kedro run` (same options).", add_help_option=False)

    def invoke(self, ctx: click.Context):
        # imported here: kedro.framework.project sets up logging when imported, and says so at INFO, which
        # `footprints predict --help` has no use for
        from kedro.framework.cli.utils import find_run_command
        from kedro.framework.project import configure_project

        package_name = Path(__file__).parent.name
        configure_project(package_name)
        return find_run_command(package_name).main(args=ctx.args, prog_name="footprints run")


cli.add_command(_KedroRun())
cli.add_command(predict)


def main(args: Sequence[str] | None = None) -> None:
    """Dispatch to a command; anything that is not a command name is ``run``'s options."""
    args = list(sys.argv[1:] if args is None else args)
    if not args or (args[0] not in cli.commands and args[0] not in ("--help", "-h")):
        args = ["run", *args]
    cli.main(args=args, prog_name="footprints")


if __name__ == "__main__":
    sys.exit(main())

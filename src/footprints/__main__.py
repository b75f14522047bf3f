"""The ``footprints`` command: ``footprints run`` (= ``kedro run``; the default) and ``footprints predict``."""

import sys
from pathlib import Path

import click
from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project

from footprints.predict_command import predict


@click.group(invoke_without_command=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Building footprints from aerial GeoTIFFs. Without a command: the whole default pipeline."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(_kedro_run())


def _kedro_run() -> click.Command:
    package_name = Path(__file__).parent.name
    configure_project(package_name)
    return find_run_command(package_name)


class _LazyRun(click.Command):
    """``footprints run [kedro run options]``: Kedro's own run command, found when it is called."""

    def __init__(self) -> None:
        super().__init__("run", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                         help="Run pipelines, exactly as `kedro run` (same options).", add_help_option=False)

    def invoke(self, ctx: click.Context):
        return _kedro_run().main(args=ctx.args, standalone_mode=False)


cli.add_command(_LazyRun())
cli.add_command(predict)


def main(*args, **kwargs) -> None:
    cli(*args, **kwargs)


if __name__ == "__main__":
    sys.exit(main())

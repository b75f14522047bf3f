"""kedro-mlflow's ``kedro mlflow`` commands, with MLflow imported only when one of them runs.

Kedro imports the command module of every installed plugin before it parses the command line, and
kedro-mlflow's (``kedro_mlflow.framework.cli.cli``) imports MLflow at its top: about 1.1 s and 140 MB here,
paid by every ``kedro`` command, ``kedro run`` of pipelines that track nothing included. Kedro imports the
project's settings before the plugins' commands, so settings.py calls :func:`defer_mlflow_commands`, which
registers a stand-in under that module name: a click group named like the plugin's that lists ``mlflow`` and
imports the real module when a ``kedro mlflow ...`` command is looked up, then hands over to its group.

The stand-in is registered only while kedro-mlflow's entry point names exactly that module and attribute, so
a kedro-mlflow that moves its commands is loaded as Kedro would load it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import types

import click

PLUGIN_MODULE = "kedro_mlflow.framework.cli.cli"
ENTRY_POINT = f"{PLUGIN_MODULE}:commands"
KEDRO_GROUP = "kedro.project_commands"


def _plugin_module() -> types.ModuleType:
    """kedro-mlflow's real command module, imported now in place of the stand-in (once)."""
    current = sys.modules.get(PLUGIN_MODULE)
    if current is not None and not isinstance(current, _StandIn):
        return current
    sys.modules.pop(PLUGIN_MODULE, None)
    try:
        return importlib.import_module(PLUGIN_MODULE)
    except BaseException:
        if current is not None:
            sys.modules[PLUGIN_MODULE] = current
        raise


def _plugin_group() -> click.Group:
    """kedro-mlflow's own ``mlflow`` group; a plugin that fails to import is one line, as Kedro says it."""
    try:
        return _plugin_module().mlflow_commands
    except Exception as exc:
        raise click.ClickException(f"kedro-mlflow's commands failed to load ({PLUGIN_MODULE}): {exc}") from exc


class _DeferredMlflowGroup(click.Group):
    """``kedro mlflow``: its subcommands are kedro-mlflow's, looked up in the plugin's module on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return _plugin_group().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _plugin_group().get_command(ctx, cmd_name)


class _StandIn(types.ModuleType):
    """What an import of :data:`PLUGIN_MODULE` finds: ``commands``, and any other name from the real module.

    Code that imports the plugin's module directly (``from kedro_mlflow.framework.cli.cli import init``)
    gets the real thing: the first name the stand-in lacks imports it. Dunder probes (``__path__``,
    ``__file__``) stay cheap and answer as for a module without them.
    """

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(_plugin_module(), name)


def _stand_in() -> _StandIn:
    parent = importlib.import_module(PLUGIN_MODULE.rpartition(".")[0])  # an empty package __init__
    # Group name and help as kedro_mlflow/framework/cli/cli.py has them: Kedro merges command groups by name.
    commands = click.Group(name="Mlflow", help="Kedro plugin for interactions with mlflow.")
    commands.add_command(_DeferredMlflowGroup(name="mlflow",
                                              help="Use mlflow-specific commands inside kedro project."))
    module = _StandIn(PLUGIN_MODULE, "Stand-in for kedro-mlflow's CLI module (footprints.deferred_cli).")
    module.__spec__ = importlib.util.find_spec(PLUGIN_MODULE)
    module.commands = commands
    parent.cli = module
    return module


def defer_mlflow_commands() -> None:
    """Register the stand-in unless the plugin's module is loaded or its entry point is not the known one."""
    if PLUGIN_MODULE in sys.modules:
        return
    entry_points = importlib.metadata.entry_points(group=KEDRO_GROUP)
    if any(entry_point.value == ENTRY_POINT for entry_point in entry_points):
        sys.modules[PLUGIN_MODULE] = _stand_in()

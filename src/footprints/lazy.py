"""Packages whose public names import their submodule on first use (PEP 562).

``footprints.model`` (torch) and ``footprints.evaluation`` (matplotlib) use it: Kedro's pipeline discovery
imports every pipeline's nodes on each ``kedro run``, and a run that neither runs the model nor draws a plot
should not pay seconds and hundreds of MB for importing them.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, list[str]]) -> tuple[list[str], Callable[[str], Any]]:
    """``__all__`` and a module ``__getattr__`` for ``package``, whose names are ``{submodule: [names]}``
    (relative submodules start with a dot)."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(module_of[name], package), name)

    return sorted(module_of), __getattr__

"""Built-in distillation losses, registered through the ``effl_plugins`` entry point.

Each loss is named after its module and registered by an import string, so that listing the registry
imports none of them (nor torch).
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from . import _HOMES


@hookimpl
def register_losses(register):
    for attr, module in _HOMES.items():
        if attr.endswith("Loss") and module != "base":
            register(module, f"effl_plugins.losses.{module}:{attr}")

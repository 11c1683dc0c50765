"""Built-in distillation losses, registered through the ``effl_plugins`` entry point."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .kd import KDLoss


@hookimpl
def register_losses(register):
    register("kd", KDLoss)

"""Built-in transfer-learning strategies, registered through the ``effl_plugins`` entry point."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .distill import Distill
from .transfer import Finetune, LinearProbe


@hookimpl
def register_strategies(register):
    register("linear_probe", LinearProbe)
    register("finetune", Finetune)
    register("distill", Distill)

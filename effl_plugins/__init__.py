"""effl-plugins: data-efficient learning for timm.

Augmentations, distillation losses and self-training strategies register in one timm-style
registry through pluggy entry points (group ``effl_plugins``)::

    import effl_plugins as ep

    ep.list_losses("*kd", exclude_filters="*_*")  # ['ctkd', 'dkd', 'kd', 'nkd', 'rkd']
    kd = ep.create_loss("kd", temperature=4)
    out = kd(student_logits, teacher_logits, targets)   # {'loss': ..., 'kd': ..., 'ce': ...}

Importing this package is cheap: torch and timm load when a component is built.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._api import (
    component_info,
    create_augmentation,
    create_loss,
    create_strategy,
    list_augmentations,
    list_losses,
    list_strategies,
    plugin_info,
    register_plugin,
    reload_plugins,
    unregister_plugin,
)
from .errors import (
    CheckpointError,
    DuplicateComponentError,
    EfflError,
    EfflWarning,
    LockHeldError,
    PluginLoadError,
    PseudoLabelStoreError,
    UnknownComponentError,
)
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "hookimpl",
    "list_augmentations",
    "list_losses",
    "list_strategies",
    "create_augmentation",
    "create_loss",
    "create_strategy",
    "component_info",
    "register_plugin",
    "unregister_plugin",
    "plugin_info",
    "reload_plugins",
    "EfflError",
    "EfflWarning",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginLoadError",
    "CheckpointError",
    "PseudoLabelStoreError",
    "LockHeldError",
    # submodules, imported on first attribute access
    "augment",
    "losses",
    "strategies",
    "data",
    "train",
    "testing",
]

_LAZY_SUBMODULES = {"augment", "losses", "strategies", "data", "train", "testing"}
# Earlier names of moved packages, still resolved so that code written against them keeps working.
_MOVED = {"distill": "losses", "selftrain": "strategies.selftrain"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _MOVED:
        return importlib.import_module(f".{_MOVED[name]}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

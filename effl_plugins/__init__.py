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

from . import _api, errors
from ._api import *  # noqa: F403 - the public functions, listed once in _api.__all__
from .errors import *  # noqa: F403 - the error types, listed once in errors.__all__
from .hookspecs import hookimpl

__version__ = "0.1.0"

#: Submodules, imported on first attribute access.
_LAZY_SUBMODULES = ("augment", "losses", "strategies", "data", "train", "testing")

__all__ = ["__version__", "hookimpl"]
__all__ += _api.__all__
__all__ += errors.__all__
__all__ += _LAZY_SUBMODULES


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

"""Strategies: how labels, unlabeled data and teachers are used. Build them with
``effl_plugins.create_strategy``; each has ``run(data, *, out_dir=None, device=None, resume=False) -> dict``.

``Strategy`` imports its module (and torch) on first access, so that importing this package (as the
plugin entry point does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Strategy"]


def __getattr__(name: str) -> Any:
    if name == "Strategy":
        return importlib.import_module(".base", __name__).Strategy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

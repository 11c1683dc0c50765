"""Optional packages behind some data sources, each an extra: ``pip install 'effl-plugins[EXTRA]'``.

``--data wds/...`` needs ``webdataset`` (extra ``webdataset``), ``--data hfds/...`` needs ``datasets``
(extra ``hf``); a missing one is refused in one line naming the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["ExtraMissingError", "require_extra"]


class ExtraMissingError(ValueError):
    """An optional package a data source needs is not installed."""


def require_extra(module: str, extra: str) -> ModuleType:
    """``module`` imported, or :class:`ExtraMissingError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".", 1)[0]
        raise ExtraMissingError(
            f"this data source needs the {top} package, which is not installed: pip install 'effl-plugins[{extra}]'"
        ) from None

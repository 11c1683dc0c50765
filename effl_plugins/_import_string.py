"""Factories named by an import string, ``"package.module:Attr"``, resolved on first use.

A plugin may register ``"my_pkg.losses:MyKD"`` instead of the class itself, so that discovering
plugins and listing components imports none of them. The string is checked for its form when it is
registered; it is imported when the component is built. Its docstring can be read from the module's
source without importing it (:func:`docstring`), which is what listings show.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import re
import sys
from typing import Any

__all__ = ["is_import_string", "check_import_string", "resolve", "qualified_name", "docstring"]

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_FORM = re.compile(rf"^({_DOTTED}):({_DOTTED})$")
# Decorators that keep a class's own docstring, so the source's docstring is the object's.
_DOC_KEEPING_DECORATORS = {"dataclass", "dataclasses.dataclass", "final", "typing.final"}


def is_import_string(target: Any) -> bool:
    """Whether ``target`` is a string (to be checked by :func:`check_import_string`)."""
    return isinstance(target, str)


def check_import_string(target: str) -> tuple[str, str]:
    """``"pkg.mod:Attr"`` -> ``("pkg.mod", "Attr")``; ValueError naming the string when malformed."""
    match = _FORM.match(target)
    if match is None:
        raise ValueError(f"an import string must look like 'package.module:Attr', got {target!r}")
    return match.group(1), match.group(2)


def resolve(target: str) -> Any:
    """Import ``"pkg.mod:Attr"`` and return the callable it names.

    Raises ImportError (the module does not import), AttributeError (no such attribute) or TypeError
    (not callable), each naming the string.
    """
    module_name, attr = check_import_string(target)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ImportError(f"cannot import module {module_name!r} of {target!r}: {type(exc).__name__}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"{target!r}: {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise TypeError(f"{target!r} names a {type(obj).__name__}, not a class or function")
    return obj


def qualified_name(target: str) -> str:
    """``"pkg.mod:Cls"`` -> ``"pkg.mod.Cls"`` (the form ``f"{obj.__module__}.{obj.__qualname__}"`` takes)."""
    module_name, attr = check_import_string(target)
    return f"{module_name}.{attr}"


def docstring(target: str) -> str | None:
    """The raw docstring of what ``target`` names, read from the source without importing it.

    ``None`` when the source cannot say for certain (no source file, the name is not a plain ``class``
    or ``def`` at module level, a decorator that may replace it, no docstring of its own): the caller
    then imports the object and reads ``__doc__``. An already imported module is read directly.
    """
    module_name, attr = check_import_string(target)
    module = sys.modules.get(module_name)
    if module is not None:
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        return None if obj is None else getattr(obj, "__doc__", None)
    if "." in attr:
        return None
    source = _source(module_name)
    if source is None:
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == attr:
            if any(ast.unparse(d).split("(")[0] not in _DOC_KEEPING_DECORATORS for d in node.decorator_list):
                return None
            return ast.get_docstring(node, clean=False)
    return None


def _source(module_name: str) -> str | None:
    """The source text of ``module_name`` without importing it or its parent packages."""
    parts = module_name.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
        for depth in range(1, len(parts)):
            if spec is None or spec.submodule_search_locations is None:
                return None
            parent = sys.modules.get(".".join(parts[:depth]))
            path = list(getattr(parent, "__path__", None) or spec.submodule_search_locations)
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: depth + 1]), path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "get_source"):
            return None
        return spec.loader.get_source(module_name)
    except (ImportError, ValueError, OSError):
        return None

"""``key=value`` arguments from the command line, and checking them against a component's signature.

One parser for every ``--*-arg k=v`` / ``--param k=v`` option::

    >>> parse_kv(["temperature=4", "alpha=0.5", "per_channel=False", "mode=soft"], option="--loss-arg")
    {'temperature': 4, 'alpha': 0.5, 'per_channel': False, 'mode': 'soft'}

A value is read as a Python literal (``ast.literal_eval``: numbers, strings, tuples, lists, dicts,
``True``/``False``/``None``); the lowercase ``true``/``false``/``none``/``null`` of YAML and JSON mean
the same, so ``per_channel=false`` is ``False`` and not the (truthy) string ``"false"``. Anything else
is kept as a plain string. A key given twice keeps the last value (the command line after a config file).
"""

from __future__ import annotations

import ast
import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["parse_kv", "parse_value", "check_kwargs", "signature_arguments", "format_arguments"]

_WORDS = {"true": True, "false": False, "none": None, "null": None}


def parse_value(text: str) -> Any:
    """One ``value``: a Python literal when it parses as one, a YAML/JSON keyword, else the text itself."""
    stripped = text.strip()
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_kv(pairs: Iterable[str], *, option: str) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: value}``; ``option`` (e.g. ``"--strategy-arg"``) names the flag in errors.

    Raises ``ValueError`` naming ``option`` and the pair when one lacks ``=`` or its key is not a
    Python identifier.
    """
    if isinstance(pairs, str):
        raise TypeError(f"{option} expects a list of KEY=VALUE strings, got the single string {pairs!r}")
    parsed: dict[str, Any] = {}
    for pair in pairs:
        if not isinstance(pair, str):
            raise TypeError(f"{option} expects KEY=VALUE strings, got {pair!r} ({type(pair).__name__})")
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"{option} expects KEY=VALUE with a Python identifier as KEY, got {pair!r}")
        parsed[key] = parse_value(value)
    return parsed


def signature_arguments(factory: Callable) -> tuple[dict[str, Any], bool]:
    """``({name: default or inspect.Parameter.empty}, takes_var_kwargs)`` for a function or class
    (a class is described by its ``__init__``; ``self`` and ``*args`` are left out)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature: accept anything
        return {}, True
    arguments: dict[str, Any] = {}
    var_kwargs = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            var_kwargs = True
        elif parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            arguments[parameter.name] = parameter.default
    return arguments, var_kwargs


def format_arguments(arguments: dict[str, Any]) -> str:
    """``{"p": 0.5, "size": empty}`` -> ``"p=0.5, size (required)"``."""
    if not arguments:
        return "(none)"
    return ", ".join(
        f"{name} (required)" if default is inspect.Parameter.empty else f"{name}={default!r}"
        for name, default in arguments.items()
    )


def check_kwargs(factory: Callable, kwargs: dict[str, Any], *, family: str, name: str) -> None:
    """Raise ``TypeError`` when ``kwargs`` has a key that ``factory`` does not accept.

    The message names the component (``family`` and ``name``), the unknown keys with close
    matches, and every valid argument with its default. A factory taking ``**kwargs`` accepts all.
    """
    arguments, var_kwargs = signature_arguments(factory)
    if var_kwargs:
        return
    unknown = [key for key in kwargs if key not in arguments]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(arguments), n=1)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise TypeError(
        f"{family} {name!r} got unknown argument(s) {', '.join(hints)}; "
        f"its arguments are: {format_arguments(arguments)}"
    )

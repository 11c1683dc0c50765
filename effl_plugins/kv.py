"""``key=value`` arguments from the command line, and checking them against a component's signature.

One parser for every ``--*-arg k=v`` / ``--param k=v`` option::

    >>> parse_kv(["temperature=4", "alpha=0.5", "per_channel=False", "mode=soft"], option="--loss-arg")
    {'temperature': 4, 'alpha': 0.5, 'per_channel': False, 'mode': 'soft'}

A value is read as a Python literal (``ast.literal_eval``: numbers, strings, tuples, lists, dicts,
``True``/``False``/``None``); the lowercase ``true``/``false``/``none``/``null`` of YAML and JSON mean
the same, so ``per_channel=false`` is ``False`` and not the (truthy) string ``"false"``. Anything else
is kept as a plain string. A key given twice keeps the last value (the command line after a config file).

Values come from users and from files others wrote: one ``KEY=VALUE`` pair is at most
:data:`MAX_PAIR_CHARS` characters, and ``check_bounded`` bounds a nested value (a ``-c/--config`` file's).
"""

from __future__ import annotations

import ast
import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from .plugins import get_manager

__all__ = [
    "parse_kv",
    "parse_value",
    "check_bounded",
    "check_kwargs",
    "checked_factory",
    "signature_arguments",
    "format_arguments",
    "MAX_PAIR_CHARS",
    "MAX_NODES",
    "MAX_DEPTH",
    "MAX_CHARS",
]

_WORDS = {"true": True, "false": False, "none": None, "null": None}

#: The longest ``KEY=VALUE`` pair ``parse_kv`` reads (characters).
MAX_PAIR_CHARS = 1 << 16
#: ``check_bounded``'s defaults: values (containers, scalars and keys, each place a shared object
#: appears counted again), nesting depth, and characters of every string, key and number together.
MAX_NODES = 10_000
MAX_DEPTH = 20
MAX_CHARS = 1 << 18


def check_bounded(
    value: Any,
    *,
    what: str,
    max_nodes: int = MAX_NODES,
    max_depth: int = MAX_DEPTH,
    max_chars: int = MAX_CHARS,
) -> tuple[int, int]:
    """Raise ``ValueError`` naming ``what`` when ``value``, fully expanded, exceeds a bound; else
    return ``(nodes, chars)`` it holds (a caller checking several values passes on what is left).

    ``value`` is walked as the code that uses it would expand it: a list or mapping that appears
    in several places (a YAML alias, a "billion laughs" of aliases of aliases) is counted at each
    place, and the walk stops as soon as a budget is spent, so checking costs at most ``max_nodes``
    steps whatever the expansion would have grown to.
    """
    nodes = chars = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise ValueError(f"{what} expands to more than {max_nodes} values (YAML aliases counted where used)")
        if depth > max_depth:
            raise ValueError(f"{what} is nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            for key, sub in item.items():
                stack.append((key, depth + 1))
                stack.append((sub, depth + 1))
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((sub, depth + 1) for sub in item)
        else:
            if isinstance(item, (str, bytes)):
                chars += len(item)
            elif isinstance(item, int) and not isinstance(item, bool):
                chars += max(1, item.bit_length() * 3 // 10)  # ~ its decimal digits, without formatting it
            else:
                chars += 1
            if chars > max_chars:
                raise ValueError(f"{what} holds more than {max_chars} characters of text and numbers")
    return nodes, chars


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

    Raises ``ValueError`` naming ``option`` and the pair when one lacks ``=``, its key is not a
    Python identifier or it is longer than :data:`MAX_PAIR_CHARS`.
    """
    if isinstance(pairs, str):
        raise TypeError(f"{option} expects a list of KEY=VALUE strings, got the single string {pairs!r}")
    parsed: dict[str, Any] = {}
    for pair in pairs:
        if not isinstance(pair, str):
            shown = repr(pair) if isinstance(pair, (int, float, bool, type(None))) else "a value"
            raise TypeError(f"{option} expects KEY=VALUE strings, got {shown} ({type(pair).__name__})")
        if len(pair) > MAX_PAIR_CHARS:
            raise ValueError(
                f"{option} expects KEY=VALUE of at most {MAX_PAIR_CHARS} characters, got {len(pair)} ({pair[:40]!r}...)"
            )
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


#: One component of each family, as messages name it.
_COMPONENT = {"augmentations": "augmentation", "losses": "loss", "strategies": "strategy"}


def checked_factory(family: str, name: str, kwargs: dict[str, Any], backend: str | None = None) -> Callable:
    """The factory registered as ``name`` in ``family`` (``backend``: an augmentation's), looked up once, with
    ``kwargs`` checked against it (:func:`check_kwargs`); unknown names raise the registry's error."""
    factory = get_manager().registry(family).get(name, backend).factory
    check_kwargs(factory, kwargs, family=_COMPONENT[family], name=name)
    return factory


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

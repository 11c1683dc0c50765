"""``effl info NAME [--family augmentations|losses|strategies] [--format text|json]``

Everything about one registered component: its family, backends and the class or function behind
each, the plugin and distribution that registered it, its constructor arguments with their
defaults, and its full docstring. A name registered in several families is shown for each.
"""

from __future__ import annotations

import argparse
import difflib
import json
from typing import Any

from .._registry import FAMILIES


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("info", help="describe one registered component", description=__doc__)
    parser.add_argument("name", help="registered name (see `effl list`)")
    parser.add_argument("--family", choices=FAMILIES, help="look only in this family")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def arguments_of(factory: Any) -> list[dict[str, Any]]:
    """``[{"name", "default", "required"}]`` of a factory's keyword-callable parameters (defaults as repr)."""
    import inspect

    from effl_plugins.kv import signature_arguments

    arguments, _ = signature_arguments(factory)
    return [
        {
            "name": name,
            "required": default is inspect.Parameter.empty,
            "default": None if default is inspect.Parameter.empty else repr(default),
        }
        for name, default in arguments.items()
    ]


def describe(family: str, name: str) -> dict[str, Any]:
    """``component_info`` plus, per backend (``None`` for losses and strategies), the factory and its arguments."""
    import effl_plugins as ep
    from effl_plugins.plugins import get_manager

    info = ep.component_info(family, name)
    registry = get_manager().registry(family)
    variants = []
    for backend in info["backends"] or [None]:
        factory = registry.get(name, backend).factory
        variants.append(
            {
                "backend": backend,
                "factory": f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}",
                "arguments": arguments_of(factory),
            }
        )
    keys = ("name", "family", "backends", "plugin", "distribution", "version", "providers", "doc")
    return {**{k: info[k] for k in keys if k in info}, "variants": variants}


def find(name: str, family: str | None) -> list[dict[str, Any]]:
    """Describe ``name`` in ``family`` (or every family that has it); the registry's
    ``UnknownComponentError`` with close matches when none does."""
    from effl_plugins.errors import UnknownComponentError
    from effl_plugins.plugins import get_manager

    manager = get_manager()
    if family is not None:
        registry = manager.registry(family)
        if name not in registry.names():
            registry.get(name)  # raises UnknownComponentError with close matches
        return [describe(family, name)]
    found = [describe(f, name) for f in FAMILIES if name in manager.registry(f).names()]
    if not found:
        names = sorted({n for f in FAMILIES for n in manager.registry(f).names()})
        suggestions = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        raise UnknownComponentError("component", name, None, suggestions, names)
    return found


def render_text(entry: dict[str, Any]) -> str:
    lines = [f"{entry['name']}  ({entry['family']})"]
    dist = entry["distribution"] or "-"
    version = f" {entry['version']}" if entry.get("version") else ""
    lines.append(f"  plugin:        {entry['plugin']} (distribution {dist}{version})")
    for variant in entry["variants"]:
        label = f"backend {variant['backend']}" if variant["backend"] else "factory"
        lines.append(f"  {label + ':':<14} {variant['factory']}")
        if not variant["arguments"]:
            lines.append("    (no arguments)")
        for arg in variant["arguments"]:
            shown = f"{arg['name']} (required)" if arg["required"] else f"{arg['name']} = {arg['default']}"
            lines.append("    " + shown)
    if entry["doc"]:
        lines += ["", *("  " + line if line else "" for line in entry["doc"].splitlines())]
    return "\n".join(lines)


def run(args) -> int:
    found = find(args.name, args.family)
    if args.format == "json":
        print(json.dumps(found if len(found) > 1 else found[0], indent=2))
    else:
        print("\n\n".join(render_text(entry) for entry in found))
    return 0

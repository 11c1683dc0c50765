"""``effl list [FAMILY] [--filter PAT] [--exclude PAT] [--backend batch|image] [--format table|json|md] [--verbose]``

Each component with the first paragraph of its docstring, whole; ``--verbose`` adds its constructor
arguments with their defaults (``effl info NAME`` shows everything about one).
"""

from __future__ import annotations

import argparse
import json

from .._registry import FAMILIES


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("list", help="list registered components", description=__doc__)
    parser.add_argument("family", nargs="?", choices=FAMILIES, help="one family (default: all three)")
    parser.add_argument("--filter", action="append", metavar="PAT", help="fnmatch pattern to keep (repeatable)")
    parser.add_argument("--exclude", action="append", metavar="PAT", help="fnmatch pattern to drop (repeatable)")
    parser.add_argument("--backend", choices=("batch", "image"), help="augmentations with this backend")
    parser.add_argument("--format", choices=("table", "json", "md"), default="table")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show constructor arguments and defaults")
    return parser


def rows(args) -> list[dict]:
    import effl_plugins as ep

    if args.backend and args.family not in (None, "augmentations"):
        raise ValueError(f"--backend applies to augmentations only, got family {args.family!r}")
    families = ["augmentations"] if args.backend else [args.family] if args.family else list(FAMILIES)
    kwargs = {"backend": args.backend} if args.backend else {}
    found = []
    for family in families:
        for name in getattr(ep, f"list_{family}")(args.filter or "*", args.exclude, **kwargs):
            info = ep.component_info(family, name)
            row = {k: info[k] for k in ("family", "name", "backends", "plugin", "distribution", "summary")}
            if getattr(args, "verbose", False):
                row["arguments"] = _arguments(family, name, info["backends"])
            found.append(row)
    return found


def _arguments(family: str, name: str, backends: list[str]) -> str:
    """``"max_delta=0.25, p=1.0"``: the constructor arguments (the batch backend's, when there is one)."""
    from effl_plugins.kv import format_arguments, signature_arguments
    from effl_plugins.plugins import get_manager

    backend = ("batch" if "batch" in backends else backends[0]) if backends else None
    arguments, var_kwargs = signature_arguments(get_manager().registry(family).get(name, backend).factory)
    return format_arguments(arguments) + (", **kwargs" if var_kwargs else "")


def render(found: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(found, indent=2)
    verbose = any("arguments" in r for r in found)
    header = ["family", "name", "backends", "distribution", "summary"]
    table = [
        [r["family"], r["name"], ",".join(r["backends"]) or "-", r["distribution"] or "-", r["summary"]] for r in found
    ]
    if fmt == "md":
        header += ["arguments"] if verbose else []
        table = [row + [r["arguments"]] if verbose else row for row, r in zip(table, found)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table])
    widths = [max(len(str(x)) for x in col) for col in zip(header[:-1], *(row[:-1] for row in table))]
    lines = []
    for row, r in zip([header, *table], [None, *found]):
        lines.append("  ".join(str(x).ljust(w) for x, w in zip(row, widths + [0])).rstrip())
        if r is not None and "arguments" in r:
            lines.append(" " * 4 + "arguments: " + r["arguments"])
    return "\n".join(lines)


def run(args) -> int:
    print(render(rows(args), args.format))
    return 0

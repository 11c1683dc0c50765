"""``effl list [FAMILY] [--filter PAT] [--exclude PAT] [--backend batch|image] [--format table|json|md]``"""

from __future__ import annotations

import argparse
import json

FAMILIES = ("augmentations", "losses", "strategies")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("list", help="list registered components", description=__doc__)
    parser.add_argument("family", nargs="?", choices=FAMILIES, help="one family (default: all three)")
    parser.add_argument("--filter", action="append", metavar="PAT", help="fnmatch pattern to keep (repeatable)")
    parser.add_argument("--exclude", action="append", metavar="PAT", help="fnmatch pattern to drop (repeatable)")
    parser.add_argument("--backend", choices=("batch", "image"), help="augmentations with this backend")
    parser.add_argument("--format", choices=("table", "json", "md"), default="table")
    return parser


def rows(args) -> list[dict]:
    import effl_plugins as ep

    families = [args.family] if args.family else list(FAMILIES)
    if args.backend and args.family not in (None, "augmentations"):
        raise ValueError(f"--backend applies to augmentations only, got family {args.family!r}")
    found = []
    for family in families:
        lister = getattr(ep, f"list_{family}")
        kwargs = {"backend": args.backend} if family == "augmentations" and args.backend else {}
        if args.backend and family != "augmentations":
            continue
        for name in lister(args.filter or "*", args.exclude, **kwargs):
            info = ep.component_info(family, name)
            found.append({k: info[k] for k in ("family", "name", "backends", "plugin", "distribution", "summary")})
    return found


def render(found: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(found, indent=2)
    header = ["family", "name", "backends", "distribution", "summary"]
    table = [[r["family"], r["name"], ",".join(r["backends"]) or "-", r["distribution"] or "-", r["summary"][:70]] for r in found]
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in table])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in [header, *table])


def run(args) -> int:
    print(render(rows(args), args.format))
    return 0

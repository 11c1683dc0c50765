"""``effl plugins [--format table|json]``: every plugin with its distribution, version, hooks,
components and load error, if any."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("plugins", help="list installed plugins", description=__doc__)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def run(args) -> int:
    import warnings

    import effl_plugins as ep

    with warnings.catch_warnings(record=True):  # failures are shown in the listing itself
        warnings.simplefilter("always")
        infos = [info.as_dict() for info in ep.plugin_info()]
    if args.format == "json":
        print(json.dumps(infos, indent=2))
        return 0
    for info in infos:
        print(f"{info['name']}  ({info['distribution']} {info['version'] or ''})".rstrip())
        print(f"  hooks: {', '.join(info['hooks']) or '-'}")
        print(f"  components: {', '.join(info['components']) or '-'}")
        if info["error"]:
            print(f"  error: {info['error']}")
    return 0

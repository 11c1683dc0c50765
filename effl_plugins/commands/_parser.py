"""A subcommand's parser that shows its module docstring as written (usage lines and line breaks kept)."""

from __future__ import annotations

import argparse

__all__ = ["add_documented_parser"]


def add_documented_parser(subparsers, name: str, help: str, doc: str | None) -> argparse.ArgumentParser:
    """``effl NAME``'s parser: ``help`` in ``effl --help``, ``doc`` (the module docstring) as its description,
    laid out as written rather than re-wrapped."""
    return subparsers.add_parser(name, help=help, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)

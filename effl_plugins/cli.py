"""The ``effl`` command. Subcommands live in ``effl_plugins.commands``, one module each, exposing
``add_parser(subparsers)`` and ``run(args) -> int``; they import torch/timm only inside ``run``,
so ``effl --help`` and ``effl --version`` answer at once."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from . import __version__
from .errors import EfflError

__all__ = ["main", "build_parser", "COMMANDS"]

#: Subcommand modules under ``effl_plugins.commands``, in the order ``effl --help`` lists them.
COMMANDS = ("list", "plugins", "augment", "pseudo_label", "self_train", "demo", "bench", "finetune", "distill")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="effl",
        description="Data-efficient learning for timm: augmentations, distillation losses, self-training strategies.",
    )
    parser.add_argument("--version", action="version", version=f"effl-plugins {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe surfaces here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _reader_went_away()
    except (EfflError, ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        message = exc.message if hasattr(exc, "message") else str(exc)
        print(f"effl {args.command}: error: {message}", file=sys.stderr)
        return 2


def _reader_went_away() -> int:
    """``effl list | head``: the reader closed the pipe. Stop quietly with the shell's status for
    SIGPIPE (128 + 13), as ``cat`` would; stdout goes to /dev/null so the exit flush cannot fail."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

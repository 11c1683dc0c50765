"""The ``effl`` command. Subcommands live in ``effl_plugins.commands``, one module each, exposing
``add_parser(subparsers)`` and ``run(args) -> int``; they import torch/timm only inside ``run``,
so ``effl --help`` and ``effl --version`` answer at once."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import EfflError

__all__ = ["main", "build_parser", "COMMANDS", "command_reference"]

#: Subcommand modules under ``effl_plugins.commands``, in the order ``effl --help`` lists them.
COMMANDS = (
    "list",
    "info",
    "plugins",
    "augment",
    "pseudo_label",
    "self_train",
    "demo",
    "bench",
    "finetune",
    "distill",
    "teacher_cache",
    "eval",
    "predict",
)


class EfflArgumentParser(argparse.ArgumentParser):
    """Refused input is one line on stderr naming the argument (``effl finetune: error: argument
    --lr: ...``), exit status 2, no usage block; ``--help`` still prints the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(plugin_commands: bool = True) -> argparse.ArgumentParser:
    """The ``effl`` parser; ``plugin_commands`` adds installed plugins' subcommands
    (``register_commands`` hook, see ``effl_plugins.plugin_commands``)."""
    parser = EfflArgumentParser(
        prog="effl",
        description="Data-efficient learning for timm: augmentations, distillation losses, self-training strategies.",
    )
    parser.add_argument("--version", action="version", version=f"effl-plugins {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    if plugin_commands:
        from .plugin_commands import add_plugin_commands

        add_plugin_commands(subparsers)
    return parser


def command_reference(width: int = 100) -> str:
    """Every built-in command's ``--help``, as Markdown (``docs/commands.md`` is this text)."""
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, COLUMNS=str(width)):  # argparse wraps to $COLUMNS: a stable text
        parser = build_parser(plugin_commands=False)
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parts = [
            "# The `effl` command\n",
            "Generated from `--help` (`python -c 'from effl_plugins.cli import "
            'command_reference; print(command_reference(), end="")\' > docs/commands.md`).\n',
            "```\n" + parser.format_help() + "```\n",
        ]
        for name, sub in subparsers.choices.items():
            parts.append(f"## effl {name}\n\n```\n{sub.format_help()}```\n")
        return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    from .config_file import parse_args_with_config

    try:
        parser = build_parser()
    except EfflError as exc:  # a plugin's register_commands under EFFL_STRICT_PLUGINS=1
        print(f"effl: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    args = parse_args_with_config(parser, argv)
    args._run = getattr(args, "_run", None) or getattr(args, "handler", None)
    if args._run is None:
        parser.print_help()
        return 2
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe surfaces here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _reader_went_away()
    except (EfflError, ValueError, TypeError, FileNotFoundError, KeyError, OSError) as exc:
        print(f"effl {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        _leave_process_group()


def _one_line(exc: BaseException) -> str:
    """The error's message on one line: a DataLoader worker's re-raised error keeps only its last line."""
    message = exc.message if hasattr(exc, "message") else str(exc)
    if isinstance(exc, KeyError) and not hasattr(exc, "message") and exc.args:
        message = str(exc.args[0])
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and "worker process" in lines[0]:
        return lines[-1].split(": ", 1)[-1]
    return " ".join(lines) if lines else type(exc).__name__


def _leave_process_group() -> None:
    """Destroy the torchrun process group on every exit path (a rank that exits holding it can abort)."""
    if "torch.distributed" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # noqa: BLE001 - leaving is best effort once the run has ended
            pass


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

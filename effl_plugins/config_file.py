"""``-c/--config FILE.yaml``: a subcommand's flags from a YAML file, the command line winning.

timm train.py's two-pass convention: the first pass finds the config file, its values become the
subcommand's defaults, and the second pass parses the command line over them (without a config file the
first pass is the parse). Keys are the long flag
names, with ``-`` or ``_`` (``batch-size`` or ``batch_size``); values go through the same type checks
as on the command line::

    # run.yaml                          # effl finetune -c run.yaml --lr 3e-4  (the command line wins)
    model: test_resnet
    lr: 1.0e-3
    mean: [0.5, 0.5, 0.5]
    pretrained: true
    strategy-arg: {threshold: 0.95}     # or a list: ["threshold=0.95"]

A subparser opts in with ``add_config_arg(parser)``; every parser given ``add_training_args`` has it.
Unknown keys, a missing file, invalid YAML or a value its flag refuses: one line on stderr, exit 2.

A config file may come from someone else: it is read only as a regular file of at most
:data:`MAX_CONFIG_BYTES`, and its values together stay within ``effl_plugins.kv.check_bounded``'s bounds.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ._validate import file_kind
from .kv import MAX_CHARS, MAX_NODES, check_bounded

__all__ = ["add_config_arg", "parse_args_with_config", "load_config", "MAX_CONFIG_BYTES"]

#: The largest config file read (bytes).
MAX_CONFIG_BYTES = 1 << 20


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` the ``-c/--config FILE.yaml`` option that ``parse_args_with_config`` reads."""
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        metavar="FILE.yaml",
        help="YAML file of flag values (keys: long flag names); the command line overrides it",
    )


def _read_bounded(path: str) -> bytes:
    """The bytes of regular file ``path`` (at most ``MAX_CONFIG_BYTES``); ``ValueError`` naming what is wrong."""
    import stat

    try:
        info = os.stat(path)  # follows a symlink: what counts is what it points to
    except FileNotFoundError:
        raise ValueError(f"-c/--config: no such file {path!r}") from None
    except OSError as exc:
        raise ValueError(f"-c/--config: cannot read {path!r}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"-c/--config: {path!r} is {file_kind(info.st_mode)}, not a regular file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ValueError(
            f"-c/--config: {path!r} has {info.st_size} bytes; a config file has at most {MAX_CONFIG_BYTES}"
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"-c/--config: cannot read {path!r}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:  # grew since the stat
        raise ValueError(f"-c/--config: {path!r} has more than {MAX_CONFIG_BYTES} bytes")
    return data


def _check_bounds(path: str, data: dict[Any, Any]) -> None:
    """Every key and value of the file, aliases expanded, within the ``effl_plugins.kv`` bounds (together)."""
    nodes = chars = 0
    for key, value in data.items():
        shown = repr(key) if isinstance(key, (str, int, float, bool)) and len(str(key)) <= 60 else "(a long key)"
        used = check_bounded(
            [key, value],
            what=f"-c/--config: {path!r} key {shown}",
            max_nodes=MAX_NODES - nodes,
            max_chars=MAX_CHARS - chars,
        )
        nodes, chars = nodes + used[0], chars + used[1]


def load_config(path: str) -> dict[str, Any]:
    """The mapping in YAML file ``path``; ``ValueError`` (one line) when it is missing, not a regular
    file, too large, not a mapping, or a value exceeds the bounds (see the module docstring)."""
    import yaml

    text = _read_bounded(path)
    try:
        data = yaml.safe_load(text.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        reason = getattr(exc, "problem", None) or type(exc).__name__
        raise ValueError(f"-c/--config: {path!r} is not valid YAML{line}: {reason}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"-c/--config: {path!r} must hold a mapping of flag names to values, got {type(data).__name__}"
        )
    _check_bounds(path, data)
    return data


def _parser_chain(
    parser: argparse.ArgumentParser, namespace: argparse.Namespace | None = None
) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and the subparsers ``namespace`` chose, outermost first (every subparser without one)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if namespace is None:
                subs = set(action.choices.values())
            else:
                chosen = getattr(namespace, action.dest, None) if action.dest != argparse.SUPPRESS else None
                subs = [action.choices[chosen]] if chosen in action.choices else []
            for sub in subs:
                yield from _parser_chain(sub, namespace)
            return


def _first_pass(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, bool]:
    """Parse with every required option relaxed (the config file may be what provides it); also whether that
    parse is the whole one (no word left over, every required option of the chosen subcommands given), which
    ``parser.parse_args(argv)`` would return as it is."""
    relaxed = [a for p in _parser_chain(parser) for a in p._actions if a.option_strings and a.required]
    for action in relaxed:
        action.required = False
    try:
        namespace, extras = parser.parse_known_args(argv)
    finally:
        for action in relaxed:
            action.required = True
    chosen = [a for p in _parser_chain(parser, namespace) for a in p._actions if a in relaxed]
    given = all(a.default is None and getattr(namespace, a.dest, None) is not None for a in chosen)
    return namespace, not extras and given


def _flag_table(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """``{"batch_size": action, ...}`` for every long option but help and the config option itself."""
    table = {}
    for action in parser._actions:
        if action.dest in ("help", "config") or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        for option in action.option_strings:
            if option.startswith("--"):
                table[option[2:].replace("-", "_")] = action
    return table


def _tokens(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{k}={v!r}" for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _config_value(parser: argparse.ArgumentParser, action: argparse.Action, key: str, value: Any) -> Any:
    """``value`` from the YAML file as the command line would have set it (same types, checks, actions)."""
    option = action.option_strings[-1]
    if action.nargs == 0:  # store_true / store_false / store_const
        if not isinstance(value, bool):
            raise ValueError(f"-c/--config: {key!r} ({option}) must be true or false, got {value!r}")
        return action.const if value else action.default
    if value is None:
        if action.default is None:
            return None
        raise ValueError(f"-c/--config: {key!r} ({option}) needs a value, got null")
    if action.nargs == "?" and isinstance(value, bool):
        return action.const if value else action.default
    scratch = argparse.Namespace(**{action.dest: None})
    try:
        if isinstance(action, argparse._AppendAction):
            for token in _tokens(value):
                action(parser, scratch, parser._get_values(action, [token]), option)
        else:
            tokens = _tokens(value)
            if action.nargs is None or action.nargs == "?":
                if len(tokens) != 1:
                    raise argparse.ArgumentError(action, f"expected one value, got {value!r}")
            action(parser, scratch, parser._get_values(action, tokens), option)
    except argparse.ArgumentError as exc:
        raise ValueError(f"-c/--config: {key!r} ({option}): {exc.message}") from None
    return getattr(scratch, action.dest)


def _apply(parser: argparse.ArgumentParser, config: dict[str, Any], path: str) -> None:
    table = _flag_table(parser)
    unknown = [str(k) for k in config if str(k).lstrip("-").replace("-", "_") not in table]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key.lstrip("-").replace("-", "_"), list(table), n=1)
            hints.append(f"{key!r} (did you mean {close[0].replace('_', '-')!r}?)" if close else repr(key))
        raise ValueError(
            f"-c/--config: {path!r} has unknown key(s) {', '.join(hints)}; "
            f"keys are {parser.prog}'s long flag names (see {parser.prog} --help)"
        )
    defaults = {}
    for key, value in config.items():
        action = table[str(key).lstrip("-").replace("-", "_")]
        original_error = parser.error
        parser.error = _raise_value_error  # type: ignore[method-assign]
        try:
            defaults[action.dest] = _config_value(parser, action, str(key), value)
        finally:
            parser.error = original_error  # type: ignore[method-assign]
        action.required = False
    parser.set_defaults(**defaults)


def _raise_value_error(message: str):
    """Stands in for ``parser.error`` while a value from the file is checked (custom actions call it)."""
    raise argparse.ArgumentError(None, message)


def parse_args_with_config(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args(argv)`` where the chosen subcommand's ``-c FILE`` values are its defaults.

    Errors in the file go through the subcommand parser's ``error`` (one line, exit 2).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    with _types_called_once(parser):
        namespace, whole = _first_pass(parser, argv)
        path = getattr(namespace, "config", None)
        if path is None:  # the command line parsed once, unless it has an error to name
            return namespace if whole else parser.parse_args(argv)
        target = [p for p in _parser_chain(parser, namespace) if any(a.dest == "config" for a in p._actions)][-1]
        try:
            _apply(target, load_config(path), path)
        except ValueError as exc:
            target.error(str(exc))
        return parser.parse_args(argv)


@contextlib.contextmanager
def _types_called_once(parser: argparse.ArgumentParser) -> Iterator[None]:
    """While the command line is parsed twice (a config file's values become defaults between the passes), each
    flag's ``type`` converts a given text once: the second pass takes the first one's value (an augmentation SPEC
    stays parsed once). A conversion that raises is not kept."""
    actions = [a for p in _parser_chain(parser) for a in p._actions if callable(a.type) and hasattr(a.type, "__name__")]
    types = {action: action.type for action in actions}
    for action in actions:
        action.type = _converted_once(action.type)
    try:
        yield
    finally:
        for action, kind in types.items():
            action.type = kind


def _converted_once(kind: Any) -> Any:
    values: dict[str, Any] = {}

    @functools.wraps(kind, updated=())  # argparse names the type (its __name__) in its messages
    def convert(text: str) -> Any:
        if text not in values:
            values[text] = kind(text)
        return values[text]

    return convert

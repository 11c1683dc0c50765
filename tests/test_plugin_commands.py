"""Installed plugins add ``effl`` subcommands through the ``register_commands`` hook."""

from __future__ import annotations

import types

import pytest

import effl_plugins as ep
from effl_plugins.cli import build_parser, main
from effl_plugins.errors import EfflWarning, PluginLoadError


def command_plugin(name: str, command: str, fail: bool = False) -> types.ModuleType:
    module = types.ModuleType(name)

    def register_commands(subparsers):
        parser = subparsers.add_parser(command, help=f"{command} from a plugin")
        parser.add_argument("--who", default="world")
        parser.set_defaults(handler=lambda args: print(f"{command} {args.who}") or 3)
        if fail:
            raise RuntimeError("broken after adding its parser")

    module.register_commands = ep.hookimpl(register_commands)
    return module


def test_plugin_command_runs_with_its_handler(fake_distributions, capsys):
    fake_distributions("hello-dist", hello=command_plugin("m", "hello"))
    assert main(["hello", "--who", "you"]) == 3
    assert capsys.readouterr().out == "hello you\n"
    assert "hello" in build_parser().format_help()
    assert "hello" not in build_parser(plugin_commands=False).format_help()


def test_plugin_commands_load_no_components(fake_distributions):
    from effl_plugins import plugins

    fake_distributions("hello-dist", hello=command_plugin("m", "hello"))
    build_parser()
    assert plugins._MANAGER is None  # no registry was loaded to build the parser


def test_a_failing_or_clashing_plugin_is_skipped_with_a_warning(fake_distributions, capsys):
    fake_distributions("bad-dist", bad=command_plugin("b", "broken", fail=True))
    fake_distributions("clash-dist", clash=command_plugin("c", "list"))
    fake_distributions("good-dist", good=command_plugin("g", "greet"))
    with pytest.warns(EfflWarning) as record:
        parser = build_parser()
    messages = " ".join(str(w.message) for w in record)
    assert "bad-dist" in messages and "broken after adding" in messages and "clash-dist" in messages
    assert "broken" not in parser.format_help()  # the half-added command is removed
    with pytest.warns(EfflWarning):
        assert main(["greet"]) == 3
    capsys.readouterr()


def test_strict_mode_raises(fake_distributions, monkeypatch):
    fake_distributions("bad-dist", bad=command_plugin("b", "broken", fail=True))
    monkeypatch.setenv("EFFL_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="bad-dist"):
        build_parser()


def test_load_plugins_selects_distributions(fake_distributions, monkeypatch):
    fake_distributions("hello-dist", hello=command_plugin("m", "hello"))
    monkeypatch.setenv("EFFL_LOAD_PLUGINS", "")
    assert "hello" not in build_parser().format_help()
    monkeypatch.setenv("EFFL_LOAD_PLUGINS", "hello-dist")
    assert "hello" in build_parser().format_help()


def test_the_example_distribution_adds_example_check(fresh_plugins, capsys):
    import argparse

    from effl_plugins.plugin_commands import add_plugin_commands

    pytest.importorskip("effl_plugins_example")
    parser = argparse.ArgumentParser()
    assert "example-check" in add_plugin_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["example-check"])
    assert args.handler(args) == 0
    assert "conformance checks passed" in capsys.readouterr().out


def test_strict_mode_in_effl_is_one_line_naming_the_plugin(fake_distributions, monkeypatch, capsys):
    fake_distributions("bad-dist", bad=command_plugin("b", "broken", fail=True))
    monkeypatch.setenv("EFFL_STRICT_PLUGINS", "1")
    assert main(["list", "losses"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == (
        "effl: error: plugin 'bad-dist:bad' from distribution 'bad-dist' failed to load: "
        "RuntimeError: broken after adding its parser\n"
    )

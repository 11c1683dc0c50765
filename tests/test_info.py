"""Registry-facing commands: ``effl info NAME`` and ``effl list`` (whole summaries, ``--verbose``)."""

from __future__ import annotations

import json
import types

import pytest

import effl_plugins as ep
from effl_plugins.cli import main


class LongDoc:
    """A component whose one-paragraph summary is much longer than seventy characters, so it must never be cut.

    Args:
        size: required.
        gain: a float.
    """

    def __init__(self, size: int, gain: float = 0.5, *, mode: str = "fast"):
        self.size = size


@pytest.fixture
def long_doc_plugin(fake_distributions):
    module = types.ModuleType("longdoc")

    def register_losses(register):
        register("long_doc", LongDoc)

    module.register_losses = ep.hookimpl(register_losses)
    fake_distributions("longdoc-dist", longdoc=module)


def test_info_shows_backends_arguments_doc_and_provenance(capsys):
    assert main(["info", "brightness"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("brightness  (augmentations)")
    assert "backend batch: effl_plugins.augment.brightness.Brightness" in out
    assert "backend image: effl_plugins.augment.brightness.BrightnessImage" in out
    assert "    max_delta = 0.25\n" in out and "    mode = 'add'\n" in out
    assert "distribution effl-plugins" in out and "Shape:" in out  # the whole docstring, not its summary


def test_info_json_and_a_third_party_component(long_doc_plugin, capsys):
    assert main(["info", "long_doc", "--family", "losses", "--format", "json"]) == 0
    entry = json.loads(capsys.readouterr().out)
    assert entry["distribution"] == "longdoc-dist" and entry["family"] == "losses"
    assert entry["variants"][0]["arguments"] == [
        {"name": "size", "required": True, "default": None},
        {"name": "gain", "required": False, "default": "0.5"},
        {"name": "mode", "required": False, "default": "'fast'"},
    ]
    assert "gain: a float." in entry["doc"]


def test_info_unknown_names_suggest_close_matches(capsys):
    assert main(["info", "brightnes"]) == 2
    assert "did you mean 'brightness'" in capsys.readouterr().err
    assert main(["info", "brightness", "--family", "losses"]) == 2
    assert "unknown loss 'brightness'" in capsys.readouterr().err


def test_list_never_cuts_a_summary(long_doc_plugin, capsys):
    summary = LongDoc.__doc__.splitlines()[0]
    for fmt in ("table", "md"):
        assert main(["list", "losses", "--filter", "long_doc", "--format", fmt]) == 0
        assert summary in capsys.readouterr().out


def test_list_verbose_shows_arguments(long_doc_plugin, capsys):
    assert main(["list", "losses", "--filter", "long_doc", "--verbose"]) == 0
    assert "    arguments: size (required), gain=0.5, mode='fast'" in capsys.readouterr().out
    assert main(["list", "losses", "--filter", "long_doc", "-v", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["arguments"] == "size (required), gain=0.5, mode='fast'"
    assert main(["list", "losses", "--filter", "long_doc", "--format", "json"]) == 0
    assert "arguments" not in json.loads(capsys.readouterr().out)[0]

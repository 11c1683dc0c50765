"""``docs/commands.md`` is every command's ``--help`` as it is now (regenerate it when a flag changes)."""

from __future__ import annotations

from pathlib import Path

from effl_plugins.cli import command_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "commands.md"


def test_docs_commands_md_is_the_current_help():
    assert DOC.read_text() == command_reference(), (
        "docs/commands.md is stale: python -c 'from effl_plugins.cli import command_reference; "
        'print(command_reference(), end="")\' > docs/commands.md'
    )


def test_every_command_is_documented():
    text = DOC.read_text()
    for name in (
        "list",
        "info",
        "plugins",
        "augment",
        "pseudo-label",
        "self-train",
        "demo",
        "bench",
        "finetune",
        "distill",
        "eval",
        "predict",
    ):
        assert f"## effl {name}\n" in text

"""Installed plugins are trusted code, but what they print must not break machine-readable output,
and a failing one under ``EFFL_STRICT_PLUGINS=1`` is one line naming it, not a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

NOISY = '''
import os

import torch

import effl_plugins as ep

print("noisy-plugin: hello at import")
os.write(1, b"noisy-plugin: raw bytes to file descriptor 1\\n")


class NoisyLoss(torch.nn.Module):
    """A loss from a plugin that prints."""

    def forward(self, student_logits, teacher_logits=None, targets=None):
        return {"loss": student_logits.sum()}


@ep.hookimpl
def register_losses(register):
    print("noisy-plugin: hello from register_losses")
    register("noisy_loss", NoisyLoss)


@ep.hookimpl
def register_commands(subparsers):
    print("noisy-plugin: hello from register_commands")
'''

BROKEN_COMMANDS = """
import effl_plugins as ep


@ep.hookimpl
def register_commands(subparsers):
    raise RuntimeError("cannot add my commands")
"""


def install(site, dist: str, module: str, source: str) -> None:
    """A real installed distribution: ``module.py`` and its ``dist-info`` with an ``effl_plugins`` entry point."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[effl_plugins]\nmain = {module}\n")


def effl(site, *argv: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("EFFL_STRICT_PLUGINS", "EFFL_LOAD_PLUGINS")}
    base.update(HF_HUB_OFFLINE="1", NO_ALBUMENTATIONS_UPDATE="1", PYTHONPATH=str(site), **env)
    return subprocess.run(
        [sys.executable, "-m", "effl_plugins.cli", *argv], capture_output=True, text=True, timeout=120, env=base
    )


@pytest.fixture(scope="module")
def noisy_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    install(site, "noisy-plugin", "noisy_plugin", NOISY)
    return site


def test_effl_list_json_stays_valid_whatever_a_plugin_prints(noisy_site):
    proc = effl(noisy_site, "list", "losses", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {"name": "noisy_loss", "distribution": "noisy-plugin"}.items() <= next(
        r for r in rows if r["name"] == "noisy_loss"
    ).items()
    said_all = ("hello at import", "raw bytes to file descriptor 1", "hello from register_losses")
    for said in (*said_all, "hello from register_commands"):
        assert f"noisy-plugin: {said}" in proc.stderr


def test_effl_info_json_stays_valid_whatever_a_plugin_prints(noisy_site):
    proc = effl(noisy_site, "info", "noisy_loss", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["name"] == "noisy_loss"
    assert "noisy-plugin: hello at import" in proc.stderr


def test_strict_mode_turns_a_failing_register_commands_into_one_line(tmp_path):
    install(tmp_path / "site", "broken-commands", "broken_commands", BROKEN_COMMANDS)
    proc = effl(tmp_path / "site", "list", EFFL_STRICT_PLUGINS="1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == (
        "effl: error: plugin 'broken-commands:main' from distribution 'broken-commands' failed to load: "
        "RuntimeError: cannot add my commands\n"
    )
    relaxed = effl(tmp_path / "site", "list", "losses")
    assert relaxed.returncode == 0 and "cannot add my commands" in relaxed.stderr

"""The ``effl`` command: fast help/version, list and plugins output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from effl_plugins.cli import main


def test_help_and_version_do_not_import_torch():
    code = (
        "import sys\nfrom effl_plugins.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'timm', 'cv2', 'sklearn') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("HEAVY []"), out


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "effl-plugins" in capsys.readouterr().out


def test_list_json_and_filters(capsys):
    assert main(["list", "losses", "--format", "json", "--filter", "k*"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows) and "kd" in [r["name"] for r in rows]
    assert all(r["family"] == "losses" for r in rows)
    assert main(["list", "augmentations", "--backend", "image", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| family") and "brightness" in out


def test_list_table_shows_example_distribution(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "example_cosine" in out and "effl-plugins-example" in out


def test_backend_with_other_family_is_an_error(capsys):
    assert main(["list", "losses", "--backend", "image"]) == 2
    assert "--backend applies to augmentations only" in capsys.readouterr().err


def test_plugins_json(capsys):
    assert main(["plugins", "--format", "json"]) == 0
    infos = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert infos["losses"]["distribution"] == "effl-plugins" and "losses:kd" in infos["losses"]["components"]
    example = infos["effl-plugins-example:example"]
    hooks = ["register_augmentations", "register_commands", "register_losses", "register_strategies"]
    assert example["hooks"] == hooks and example["error"] is None


def test_console_script_runs():
    out = subprocess.run(["effl", "list", "strategies", "--format", "json"], capture_output=True, text=True, check=True)
    assert "linear_probe" in out.stdout

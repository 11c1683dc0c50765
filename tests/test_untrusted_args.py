"""Arguments checked where they are parsed: seeds, ``effl augment preview --out``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from effl_plugins.cli import main


def effl(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    return subprocess.run([sys.executable, "-m", "effl_plugins.cli", *argv], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    "argv",
    [
        ["augment", "preview", "rotate", "--out", "x.png", "--seed", str(10**26)],
        ["augment", "preview", "rotate", "--out", "x.png", "--seed", "-1"],
        ["finetune", "--seed", str(2**63)],
    ],
)
def test_seeds_out_of_range_are_refused_at_parse_time(argv, tmp_path):
    proc = effl(*argv)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "argument --seed: expected a value in [0, 9223372036854775807]" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_seeds_out_of_range_in_a_config_file_are_refused_too(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"seed: {10**26}\n")
    proc = effl("augment", "preview", "rotate", "--out", str(tmp_path / "x.png"), "-c", str(config))
    assert proc.returncode == 2 and "'seed' (--seed): expected a value in [0, 9223372036854775807]" in proc.stderr


def test_augment_preview_out_must_be_a_png_it_could_have_written(tmp_path, capsys):
    notes = tmp_path / "notes.png"
    notes.write_text("my notes, not a picture")
    (tmp_path / "folder.png").mkdir()
    cases = [
        (tmp_path / "grid.jpg", "--out must name a .png file"),
        (notes, "exists and is not a PNG image; refusing to replace it"),
        (tmp_path / "folder.png", "is a directory, not a PNG file this command may replace"),
    ]
    for out, message in cases:
        argv = ["augment", "preview", "rotate", "--size", "8", "--out", str(out)]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert notes.read_text() == "my notes, not a picture"
    grid = tmp_path / "grid.png"
    assert main(["augment", "preview", "rotate", "--size", "8", "--out", str(grid)]) == 0
    assert main(["augment", "preview", "flip", "--size", "8", "--out", str(grid)]) == 0  # its own PNG: replaced
    assert grid.read_bytes().startswith(b"\x89PNG")

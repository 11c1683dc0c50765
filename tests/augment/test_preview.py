"""``effl augment preview``: a 4x4 PNG grid of a real photo under 16 draws."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from effl_plugins.cli import main
from effl_plugins.commands.augment import GAP, parse_params


def _tiles(path, size: int) -> list[np.ndarray]:
    grid = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert grid is not None and grid.shape == (4 * size + 3 * GAP, 4 * size + 3 * GAP, 3)
    step = size + GAP
    return [grid[r * step : r * step + size, c * step : c * step + size] for r in range(4) for c in range(4)]


@pytest.mark.parametrize("backend", ["batch", "image"])
def test_writes_a_grid_of_differing_tiles(tmp_path, capsys, backend):
    out = tmp_path / "sub" / "grid.png"
    assert (
        main(
            [
                "augment",
                "preview",
                "brightness",
                "--param",
                "max_delta=0.5",
                "--backend",
                backend,
                "--size",
                "32",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    tiles = _tiles(out, 32)
    assert len({t.tobytes() for t in tiles}) > 8
    assert "wrote" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]  # no temporary file left behind


def test_seed_reproduces_and_mixing_ops_mix_both_photos(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for path in (a, b):
        assert main(["augment", "preview", "mixup", "--seed", "3", "--size", "24", "--out", str(path)]) == 0
    assert a.read_bytes() == b.read_bytes()
    assert len({t.tobytes() for t in _tiles(a, 24)}) > 8


def test_parse_params_reads_python_literals_and_strings():
    assert parse_params(["p=0.5", 'ops=["rotate", "solarize"]', "per_batch=true", "mode=factor"]) == {
        "p": 0.5,
        "ops": ["rotate", "solarize"],
        "per_batch": True,
        "mode": "factor",
    }
    assert parse_params(["per_channel=False"]) == {"per_channel": False}
    with pytest.raises(ValueError, match="--param.*KEY=VALUE"):
        parse_params(["novalue"])


def test_per_channel_false_means_false(tmp_path):
    grids = {}
    for value in ("False", "0", "True"):
        out = tmp_path / f"{value}.png"
        assert (
            main(
                [
                    "augment",
                    "preview",
                    "brightness",
                    "--param",
                    f"per_channel={value}",
                    "--size",
                    "16",
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        grids[value] = out.read_bytes()
    assert grids["False"] == grids["0"] != grids["True"]


def test_unknown_param_lists_the_valid_arguments(tmp_path, capsys):
    assert main(["augment", "preview", "brightness", "--param", "max_delt=0.1", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "'max_delt' (did you mean 'max_delta'?)" in err and "per_channel=None" in err and "mode='add'" in err
    assert not (tmp_path / "x.png").exists()


def test_errors_are_reported(tmp_path, capsys):
    assert main(["augment", "preview", "no_such_op", "--out", str(tmp_path / "x.png")]) == 2
    assert "no_such_op" in capsys.readouterr().err
    assert main(["augment", "preview", "brightness", "--param", "max_delta=7", "--out", str(tmp_path / "x.png")]) == 2
    assert "max_delta" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()

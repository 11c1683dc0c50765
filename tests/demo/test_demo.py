"""``effl demo --quick``: the report's shape, the plot, and the same accuracies under one seed."""

from __future__ import annotations

import json

import pytest

from effl_plugins.cli import main
from effl_plugins.demo.run import run_demo

STAGES = [
    "supervised baseline",
    "fine-tune (discriminative LR)",
    "knowledge distillation (kd)",
    "pseudo-labelling",
    "noisy student round 1",
    "fixmatch (from the baseline)",
]


@pytest.mark.slow
def test_quick_demo_report_shape_and_determinism(tmp_path, capsys):
    assert main(["demo", "--quick", "--seed", "3", "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == STAGES
    for stage in report["stages"]:
        assert set(stage) == {"name", "accuracy", "seconds"}
        assert 0.0 <= stage["accuracy"] <= 1.0 and stage["seconds"] >= 0.0
        assert stage["name"].split(" round")[0] in printed
    assert report["stages"][0]["accuracy"] > 0.5  # the baseline really learned
    png = (tmp_path / "a" / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    again = run_demo(tmp_path / "b", seed=3, quick=True, log=lambda line: None)
    assert [s["accuracy"] for s in again["stages"]] == [s["accuracy"] for s in report["stages"]]

"""``effl demo``: the report's shape, the plot, the same accuracies under one seed, and the story the
quick demo tells (each technique at or above what it is compared with)."""

from __future__ import annotations

import json

import pytest

from effl_plugins.cli import main
from effl_plugins.demo import run as demo_run
from effl_plugins.demo.run import run_demo

STAGES = [
    "supervised baseline",
    "fine-tune (discriminative LR)",
    "pseudo-labelling",
    "noisy student round 1",
    "student alone (as many steps as kd)",
    "kd from the last noisy student",
    "fixmatch (from the baseline)",
]
TINY = demo_run.DemoPlan(
    unlabeled=64,
    baseline_epochs=2,
    finetune_epochs=1,
    kd_epochs=1,
    student_epochs=1,
    rounds=1,
    fixmatch_epochs=1,
    student_batch=32,
)


def test_report_shape_plot_and_determinism(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(demo_run.PLANS, "quick", TINY)
    assert main(["demo", "--quick", "--seed", "3", "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == STAGES
    for stage in report["stages"]:
        assert set(stage) == {"name", "accuracy", "seconds"}
        assert 0.0 <= stage["accuracy"] <= 1.0 and stage["seconds"] >= 0.0
        assert stage["name"].split(" round")[0] in printed
    png = (tmp_path / "a" / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    again = run_demo(tmp_path / "b", seed=3, quick=True, log=lambda line: None)
    assert [s["accuracy"] for s in again["stages"]] == [s["accuracy"] for s in report["stages"]]


def test_bad_seed_is_refused_at_parse_time(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--seed", str(10**26)])
    assert exit_info.value.code == 2 and "--seed" in capsys.readouterr().err


@pytest.mark.slow
def test_the_quick_demo_tells_the_full_demos_story(tmp_path):
    """Self-training above the baseline, distillation from the self-trained teacher above the student
    alone at the same step count, every stage far above chance (seed 0, as the README's table)."""
    report = run_demo(tmp_path, seed=0, quick=True, log=lambda line: None)
    accuracy = {s["name"]: s["accuracy"] for s in report["stages"]}
    assert list(accuracy) == STAGES
    baseline = accuracy["supervised baseline"]
    assert baseline > 0.85
    for stage in ("pseudo-labelling", "noisy student round 1", "fixmatch (from the baseline)"):
        assert accuracy[stage] > baseline, (stage, accuracy)
    assert accuracy["kd from the last noisy student"] > accuracy["student alone (as many steps as kd)"] + 0.03
    assert accuracy["fine-tune (discriminative LR)"] >= baseline - 0.01

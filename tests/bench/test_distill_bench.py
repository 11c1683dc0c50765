"""The distillation comparison: alone, teacher and one row per loss for each seed; the table's gain column."""

from __future__ import annotations

import pytest

from effl_plugins.bench import distill


@pytest.mark.slow
def test_one_seed_tiny_schedule(tmp_path, monkeypatch):
    for name in ("ALONE_EPOCHS", "TEACHER_EPOCHS", "DISTILL_EPOCHS"):
        monkeypatch.setattr(distill, name, 1)
    monkeypatch.setattr(distill, "TEACHER", "test_efficientnet")
    rows = distill.run_seed(0, ["kd", "fitnet"], tmp_path, log=lambda message: None)
    assert [r["method"] for r in rows] == ["alone", "teacher", "kd", "fitnet"]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["seconds"] >= 0 for r in rows)
    assert (tmp_path / "teacher-0" / "checkpoint.pt").is_file()


def test_table_means_spreads_and_gains():
    rows = [
        {"seed": s, "method": m, "accuracy": a}
        for s, m, a in [
            (0, "alone", 0.5),
            (1, "alone", 0.7),
            (0, "teacher", 0.8),
            (1, "teacher", 0.8),
            (0, "kd", 0.7),
            (1, "kd", 0.9),
        ]
    ]
    lines = distill.table(rows).splitlines()
    assert lines[2] == "| alone | 0.6000 | 0.1414 |  | 2 |"
    assert lines[4] == "| kd | 0.8000 | 0.1414 | +20.0 pts | 2 |"

"""The distillation comparison: the four-way split, the step-matched alone runs, the teacher and one row
per loss for each seed; the table's gain column."""

from __future__ import annotations

import pytest
import torch

from effl_plugins.bench import distill


def test_split_gives_the_teacher_more_labels_and_nobody_the_unlabeled_labels():
    student, teacher = distill.split_data(1)
    assert (len(student.labeled), len(teacher.labeled), len(student.test)) == (100, 600, 360)
    assert torch.bincount(student.labeled.targets).tolist() == [10] * 10
    assert set(student.labeled.ids) < set(teacher.labeled.ids)
    assert not set(student.unlabeled.ids) & set(teacher.labeled.ids)
    assert student.unlabeled.ids == teacher.unlabeled.ids and len(student.unlabeled) == 837
    assert not set(student.test.ids) & (set(teacher.labeled.ids) | set(student.unlabeled.ids))
    other, _ = distill.split_data(2)
    assert set(other.labeled.ids) != set(student.labeled.ids)  # the seed draws the labeled digits
    assert other.test.ids == student.test.ids


def test_alone_takes_as_many_steps_as_a_distilled_student():
    student, _ = distill.split_data(0)
    steps = distill.distill_steps(student)
    assert steps == distill.DISTILL_EPOCHS * 30  # ceil(937 / 32) steps an epoch
    assert distill.alone_epochs(student, steps) * 4 == steps  # ceil(100 / 32) steps an epoch


@pytest.mark.slow
def test_one_seed_tiny_schedule(tmp_path, monkeypatch):
    for name in ("TEACHER_EPOCHS", "DISTILL_EPOCHS"):
        monkeypatch.setattr(distill, name, 1)
    monkeypatch.setattr(distill, "TEACHER", "test_efficientnet")
    rows = distill.run_seed(0, ["kd", "fitnet"], tmp_path, log=lambda message: None)
    assert [r["method"] for r in rows] == ["alone", "alone_long", "teacher", "kd", "fitnet"]
    assert all(0.1 < r["accuracy"] <= 1.0 and r["seconds"] >= 0 for r in rows)  # above chance (10 classes)
    assert (tmp_path / "teacher-0" / "checkpoint.pt").is_file()
    # one cache per (teacher, seed), read by every loss that can: kd from it, fitnet (features) live
    assert (tmp_path / "teacher-cache-0" / "teacher-cache.json").is_file()
    assert {r["method"]: r.get("teacher") for r in rows[3:]} == {"kd": "cache", "fitnet": "live"}


def test_table_means_spreads_and_gains_over_the_better_alone_run():
    rows = [
        {"seed": s, "method": m, "accuracy": a}
        for s, m, a in [
            (0, "alone", 0.5),
            (1, "alone", 0.7),
            (0, "alone_long", 0.6),
            (1, "alone_long", 0.7),
            (0, "teacher", 0.8),
            (1, "teacher", 0.8),
            (0, "kd", 0.7),
            (1, "kd", 0.9),
        ]
    ]
    lines = distill.table(rows).splitlines()
    assert lines[2] == "| alone | 60.0 | 14.1 |  | 2 |"
    assert lines[5] == "| kd | 80.0 | 14.1 | +15.0 pts | 2 |"

"""``--resume auto``: continue the run in ``--out`` when it holds a checkpoint, start fresh when it holds
none, refuse (one line, exit 2) when the checkpoint is another run's."""

from __future__ import annotations

import argparse

import pytest

from effl_plugins.cli import main
from effl_plugins.commands._train_args import add_training_args, training_settings
from effl_plugins.train.rundir import RunDirectoryError, resolve_resume

RUN = ["--data", "digits", "--model", "test_resnet", "--img-size", "32", "--epochs", "1", "-b", "64"]
RUN += ["-j", "0", "--device", "cpu", "--log-interval", "0"]


def _settings(*argv: str) -> dict:
    return training_settings(add_training_args(argparse.ArgumentParser()).parse_args(list(argv)))


def test_the_flag_keeps_auto_and_every_other_spelling():
    assert _settings("--out", "runs/a", "--resume", "auto")["resume"] == "auto"
    assert _settings("--out", "runs/a", "--resume")["resume"] is True
    assert _settings("--out", "runs/a")["resume"] is False
    assert _settings("--resume", "runs/a/checkpoint.pt")["out"] == "runs/a"
    with pytest.raises(ValueError, match="--resume auto needs --out DIR"):
        _settings("--resume", "auto")


def test_resolved_from_what_the_directory_holds(tmp_path):
    assert resolve_resume(tmp_path / "absent", "auto") is False
    assert resolve_resume(tmp_path, "auto") is False  # empty
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / "checkpoint.pt").write_bytes(b"")
    assert resolve_resume(tmp_path, "auto") is True  # a sub-run's checkpoint: the strategy continues it
    assert resolve_resume(tmp_path / "absent", True) is True and resolve_resume(tmp_path, False) is False
    with pytest.raises(RunDirectoryError, match="--resume auto needs --out"):
        resolve_resume(None, "auto")


def test_fresh_then_resumed_then_another_run_refused(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["finetune", *RUN, "--resume", "auto", "--out", out]) == 0
    first = (tmp_path / "run" / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert main(["finetune", *RUN, "--resume", "auto", "--out", out]) == 0
    assert "resuming from epoch 2 step 0" in capsys.readouterr().err  # finished: nothing more to train
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == first
    assert main(["finetune", *RUN, "--lr", "0.5", "--resume", "auto", "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("effl finetune: error: --resume auto: --out "), err
    assert "holds another run's checkpoint" in err and "lr: 0.001 -> 0.5" in err
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == first

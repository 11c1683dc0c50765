"""Run-directory rules and bad input through ``effl``: exit status 2, one stderr line, nothing written."""

from __future__ import annotations

import json
import shutil

import pytest

from effl_plugins.cli import main
from effl_plugins.lock import exclusive_lock

from ._helpers import checkpoint, records

FINETUNE = [
    "finetune",
    "--data",
    "digits",
    "--model",
    "test_resnet",
    "--img-size",
    "32",
    "--batch-size",
    "50",
    "--workers",
    "0",
    "--device",
    "cpu",
    "--warmup-epochs",
    "0",
    "--lr",
    "0.01",
]


def _files(folder):
    """Every file under ``folder`` with its bytes (what 'nothing written' compares)."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(capsys, argv, *, where, contains):
    before = _files(where)
    capsys.readouterr()
    try:
        status = main(argv)
    except SystemExit as exit:  # argparse refusals exit from the parser
        status = exit.code
    assert status == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("effl ") and contains in lines[0], lines[0]
    assert _files(where) == before, "a refused command wrote into --out"
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-epoch finetune run (copied by each test that changes it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main([*FINETUNE, "--epochs", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("not a directory\n")
    _refused(capsys, [*FINETUNE, "--epochs", "1", "--out", str(target)], where=tmp_path, contains="is a file")


def test_a_finished_run_is_not_reused_without_resume_and_overwrite_replaces_it(run, capsys):
    _refused(capsys, [*FINETUNE, "--epochs", "2", "--out", str(run)], where=run, contains="already holds a run")
    (run / "notes.txt").write_text("mine\n")
    assert main([*FINETUNE, "--epochs", "1", "--out", str(run), "--overwrite"]) == 0
    assert [r["epoch"] for r in records(run)] == [1] and checkpoint(run)["epoch"] == 1
    assert (run / "notes.txt").read_text() == "mine\n"  # only the run's own files are replaced


def test_resume_without_out_and_with_an_out_holding_no_checkpoint(tmp_path, capsys):
    _refused(capsys, [*FINETUNE, "--epochs", "1", "--resume"], where=tmp_path, contains="--resume needs --out")
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(
        capsys, [*FINETUNE, "--epochs", "1", "--resume", "--out", str(empty)], where=empty, contains="no checkpoint"
    )
    assert _files(empty) == {}


@pytest.mark.parametrize(
    ("flag", "value", "name"), [("--seed", "7", "seed"), ("--lr", "0.02", "lr"), ("--batch-size", "40", "batch_size")]
)
def test_resuming_with_another_setting_is_refused_naming_it_unless_overridden(run, capsys, flag, value, name):
    argv = [*FINETUNE, "--epochs", "2", "--out", str(run), "--resume", flag, value]
    line = _refused(capsys, argv, where=run, contains="cannot resume")
    assert f"{name}:" in line and "--resume-override" in line
    assert main([*argv, "--resume-override"]) == 0
    assert [r["epoch"] for r in records(run)] == [1, 2]


def test_resuming_a_distillation_with_another_loss_is_refused(tmp_path, capsys):
    out = tmp_path / "distill"
    distill = [
        "distill",
        "--data",
        "digits",
        "--teacher",
        "test_resnet",
        "--student",
        "test_resnet",
        "--img-size",
        "32",
        "--batch-size",
        "50",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--epochs",
        "1",
        "--strategy-arg",
        "use_unlabeled=False",
        "--out",
        str(out),
    ]
    assert main(distill) == 0
    line = _refused(capsys, [*distill, "--resume", "--loss", "dkd"], where=out, contains="cannot resume")
    assert "loss:" in line and "'kd' -> 'dkd'" in line
    assert main([*distill, "--resume", "--loss", "dkd", "--resume-override"]) == 0


def test_a_run_resumed_with_more_epochs_trains_them_on_a_rebuilt_schedule(run, tmp_path, capsys):
    before = checkpoint(run)["model"]
    assert main([*FINETUNE, "--epochs", "4", "--out", str(run), "--resume"]) == 0
    assert "the learning-rate schedule is rebuilt for 4 epochs" in capsys.readouterr().err
    history = records(run)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[1]["lr"] < history[0]["lr"] and all(r["lr"] > 0 for r in history[2:])
    straight = tmp_path / "straight"
    assert main([*FINETUNE, "--epochs", "4", "--out", str(straight)]) == 0
    assert [r["lr"] for r in history[2:]] == [r["lr"] for r in records(straight)[2:]]
    assert checkpoint(run)["epoch"] == 4
    assert any(not (before[k] == v).all() for k, v in checkpoint(run)["model"].items())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 4


def test_a_held_lock_is_refused(tmp_path, capsys):
    out = tmp_path / "locked"
    with exclusive_lock(out):
        _refused(capsys, [*FINETUNE, "--epochs", "1", "--out", str(out)], where=out, contains="run directory")


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--lr", "inf", "argument --lr"),
        ("--device", "tpu", "argument --device"),
        ("--img-size", "0", "argument --img-size"),
        ("--device", "cuda", "CUDA is not available"),
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, capsys, flag, value, message):
    pytest.importorskip("torch")
    import torch

    if value == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out"
    _refused(capsys, [*FINETUNE, "--epochs", "1", "--out", str(out), flag, value], where=out, contains=message)
    assert not out.exists()

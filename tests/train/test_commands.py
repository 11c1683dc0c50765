"""``effl finetune`` / ``effl distill``: model, checkpoint and loss errors come before any training, with
``--out`` untouched; a finetune run writes the whole run directory."""

from __future__ import annotations

import json

import pytest
import timm
import torch
import yaml

from effl_plugins.cli import main
from effl_plugins.train.rundir import CSV_COLUMNS

from ._helpers import checkpoint, records


@pytest.fixture
def out(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("not a run\n")
    return out


def _unchanged(out):
    """Nothing but the (empty, released) lock file of the run directory was added."""
    names = sorted(p.name for p in out.iterdir())
    lock_ok = "lock" not in names or (out / "lock").read_text() == ""
    return (
        [n for n in names if n != "lock"] == ["notes.txt"]
        and lock_ok
        and (out / "notes.txt").read_text() == "not a run\n"
    )


def test_errors_come_before_training(tmp_path, out, capsys):
    torch.save(timm.create_model("test_vit", num_classes=10).state_dict(), tmp_path / "vit.pt")
    base = ["--epochs", "1", "--out", str(out), "--device", "cpu", "--img-size", "32"]
    distill = ["distill", "--data", "digits", "--teacher", "test_resnet", "--student", "test_resnet"]
    cases = [
        (["finetune", "--data", str(tmp_path / "missing"), "--model", "test_resnet"], "missing"),
        (["finetune", "--data", "digits", "--model", "resnet_nope"], "unknown timm model 'resnet_nope'"),
        (["finetune", "--data", "digits", "--model", f"test_resnet:{tmp_path / 'vit.pt'}"], "does not fit"),
        (["finetune", "--data", "digits", "--model", f"test_resnet:{tmp_path / 'none.pt'}"], "not found"),
        (["finetune", "--data", "digits", "--model", "test_resnet", "--strategy", "nope"], "nope"),
        (["distill", "--data", "digits", "--teacher", "test_resnet", "--student", "test_nope"], "test_nope"),
        (
            [
                "distill",
                "--data",
                "digits",
                "--teacher",
                f"test_resnet:{tmp_path / 'vit.pt'}",
                "--student",
                "test_resnet",
            ],
            "does not fit",
        ),
        ([*distill, "--loss", "kdd"], "kdd"),
        ([*distill, "--loss-arg", "temperature=0"], "temperature"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv + base) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
        assert _unchanged(out), f"{argv} wrote into --out"


def test_finetune_command_writes_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "finetune",
                "--data",
                "digits",
                "--model",
                "test_resnet",
                "--strategy",
                "linear_probe",
                "--epochs",
                "1",
                "--batch-size",
                "50",
                "--img-size",
                "32",
                "--workers",
                "0",
                "--out",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert printed["final_accuracy"] == summary["final_accuracy"] and summary["epochs"] == 1
    assert {"checkpoint.pt", "model_best.pt", "args.yaml", "summary.csv", "metrics.jsonl", "summary.json"} <= {
        p.name for p in out.iterdir()
    }
    assert [r["epoch"] for r in records(out)] == [1] and records(out)[0]["train_samples"] == 100
    assert (out / "summary.csv").read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    args = yaml.safe_load((out / "args.yaml").read_text())
    assert args["strategy"] == "linear_probe" and args["img_size"] == 32 and "torch" in args["versions"]
    saved = checkpoint(out)
    assert saved["epoch"] == 1 and saved["data_config"]["input_size"] == [3, 32, 32]

"""``effl finetune`` / ``effl distill``: clear errors before any training with ``--out`` untouched,
SIGTERM saves a weights-only checkpoint that ``--resume`` completes, and a 2-process gloo run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import timm
import torch

from effl_plugins.cli import main


@pytest.fixture
def out(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("previous run\n")
    return out


def _unchanged(out):
    return sorted(p.name for p in out.iterdir()) == ["summary.json"] and (out / "summary.json").read_text() == "previous run\n"


def _errors(capsys, argv):
    assert main(argv) == 2
    return capsys.readouterr().err


def test_errors_come_before_training(tmp_path, out, capsys):
    torch.save(timm.create_model("test_vit", num_classes=10).state_dict(), tmp_path / "vit.pt")
    base = ["--epochs", "1", "--out", str(out), "--device", "cpu"]
    cases = [
        (["finetune", "--data", str(tmp_path / "missing"), "--model", "test_resnet"], "missing"),
        (["finetune", "--data", "digits", "--model", "resnet_nope"], "unknown timm model 'resnet_nope'"),
        (["finetune", "--data", "digits", "--model", f"test_resnet:{tmp_path / 'vit.pt'}"], "does not fit model 'test_resnet'"),
        (["finetune", "--data", "digits", "--model", f"test_resnet:{tmp_path / 'none.pt'}"], "not found"),
        (["distill", "--data", "digits", "--teacher", "test_resnet", "--student", "test_nope"], "unknown timm model 'test_nope'"),
        (["distill", "--data", "digits", "--teacher", f"test_resnet:{tmp_path / 'vit.pt'}", "--student", "test_resnet"], "does not fit"),
        (["distill", "--data", "digits", "--teacher", "test_resnet", "--student", "test_resnet", "--loss", "kdd"], "kdd"),
        (["distill", "--data", "digits", "--teacher", "test_resnet", "--student", "test_resnet", "--loss-arg", "alpha"], "KEY=VALUE"),
        (["distill", "--data", "digits", "--teacher", "test_resnet", "--student", "test_resnet", "--loss-arg", "temperature=0"], "temperature"),
    ]
    for argv, message in cases:
        err = _errors(capsys, argv + base)
        assert message in err, (argv, err)
        assert _unchanged(out), f"{argv} wrote into --out"


def test_finetune_command_writes_the_run(tmp_path):
    out = tmp_path / "run"
    assert main(["finetune", "--data", "digits", "--model", "test_resnet", "--strategy", "linear_probe", "--epochs", "1",
                 "--batch-size", "50", "--out", str(out), "--device", "cpu"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1 and 0 <= summary["best_accuracy"] <= 1
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_sigterm_saves_and_resume_completes(tmp_path):
    out = tmp_path / "run"
    argv = ["finetune", "--data", "digits", "--model", "test_resnet", "--epochs", "8", "--batch-size", "20",
            "--out", str(out), "--device", "cpu"]
    process = subprocess.Popen([sys.executable, "-m", "effl_plugins.cli", *argv], env=_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (out / "checkpoint.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert 1 <= state["epoch"] < 8
    assert main([*argv, "--resume"]) == 0
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 9))
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 8


@pytest.mark.slow
def test_two_process_gloo_run(tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "effl_plugins.cli",
               "finetune", "--data", "digits", "--model", "test_resnet", "--epochs", "1", "--batch-size", "16",
               "--out", str(out), "--device", "cpu"]
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=150)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the launcher and its two workers
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["train_samples"] == 100  # two shards of 50, summed
    assert done.stdout.decode().count('"world_size": 2') == 1, "rank 0 alone reports"
    # the gathered accuracy equals a single-process evaluation of the saved weights
    from effl_plugins.data import load_digits
    from effl_plugins.engine import evaluate

    model = timm.create_model("test_resnet", num_classes=10)
    model.load_state_dict(torch.load(out / "checkpoint.pt", weights_only=True)["model"])
    assert evaluate(model, load_digits().test) == summary["final_accuracy"]

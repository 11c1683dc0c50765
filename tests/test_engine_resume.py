"""Kill and resume: a run stopped by SIGTERM (mid-epoch or between epochs) and resumed gives the
same loss curve and the same final weights as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal

import pytest
import timm
import torch

from effl_plugins.data import load_digits
from effl_plugins.engine import CHECKPOINT_NAME, TrainConfig, TrainingInterrupted, fit, load_checkpoint


@pytest.fixture(scope="module")
def data():
    return load_digits(num_labeled=40, num_test=20, image_size=16)


def _run(data, out_dir, *, resume=False, stop_at_step=None, ema=None, augment=None):
    config = TrainConfig(epochs=2, batch_size=16, lr=1e-2, seed=3, ema_decay=ema, clip_grad=1.0)
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=10)
    steps = []

    def augment_and_maybe_stop(images, targets):
        steps.append(1)
        if stop_at_step is not None and len(steps) == stop_at_step:
            os.kill(os.getpid(), signal.SIGTERM)  # handled between steps: this step finishes first
        noise = torch.randint(0, 3, images.shape, dtype=torch.uint8)  # uses the global RNG
        return images.clamp(max=252) + noise, targets

    summary = fit(model, data.labeled, data.test, None, config, out_dir, augment_and_maybe_stop, resume=resume)
    return model, summary


def _losses(out_dir):
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["epoch"], r["train_loss"], r["accuracy"], r.get("ema_accuracy")) for r in map(json.loads, lines)]


@pytest.mark.parametrize(("stop_at_step", "saved_at"), [(2, (0, 2)), (4, (1, 1))], ids=["first-epoch", "second-epoch"])
def test_sigterm_then_resume_equals_uninterrupted(data, tmp_path, stop_at_step, saved_at):
    straight, _ = _run(data, tmp_path / "straight", ema=0.9)
    with pytest.raises(TrainingInterrupted) as stopped:
        _run(data, tmp_path / "resumed", stop_at_step=stop_at_step, ema=0.9)
    assert stopped.value.code == 143
    state = load_checkpoint(tmp_path / "resumed" / CHECKPOINT_NAME)
    assert (state["epoch"], state["step"]) == saved_at  # 40 images / 16 = 3 steps per epoch
    resumed, summary = _run(data, tmp_path / "resumed", resume=True, ema=0.9)
    assert _losses(tmp_path / "resumed") == _losses(tmp_path / "straight")
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert summary["epochs"] == 2 and len(_losses(tmp_path / "resumed")) == 2


def test_checkpoint_reads_with_weights_only_and_holds_everything(data, tmp_path):
    _run(data, tmp_path, ema=0.9)
    state = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=True)
    assert {"model", "optimizer", "scheduler", "scaler", "ema", "epoch", "step", "rng", "history"} <= set(state)
    assert state["epoch"] == 2 and state["step"] == 0 and state["ema"]
    assert {"torch", "python", "numpy"} <= set(state["rng"][0])
    assert all(isinstance(v, torch.Tensor) for k, v in state["rng"][0].items() if k in ("torch", "python", "numpy"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["epochs"] == 2 and 0 <= summary["final_accuracy"] <= summary["best_accuracy"] <= 1


def test_resume_without_checkpoint_starts_fresh_and_finished_run_stays_finished(data, tmp_path):
    _, first = _run(data, tmp_path, resume=True)
    before = (tmp_path / "metrics.jsonl").read_text()
    _, again = _run(data, tmp_path, resume=True)  # all epochs done: nothing is retrained
    assert (tmp_path / "metrics.jsonl").read_text() == before
    assert again["final_accuracy"] == first["final_accuracy"]

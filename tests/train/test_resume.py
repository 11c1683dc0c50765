"""Exact resume: SIGTERM mid-epoch, then ``fit(resume=True)``, ends bit-identical to an uninterrupted run
(every record but the wall-clock seconds, the final weights, the optimizer, the EMA, the task state)."""

from __future__ import annotations

import pytest
import torch

from effl_plugins.data import DataConfig, build_data
from effl_plugins.testing import small_digits
from effl_plugins.train import TrainConfig, TrainingInterrupted
from effl_plugins.train.streams import KeyedDataset

from ._helpers import assert_same_tensors, checkpoint, engine, make_task, records, stop_at

SUPERVISED = dict(
    aug="brightness(max_delta=0.3)", mixup=0.5, cutmix=1.0, model_ema=True, model_ema_decay=0.9, clip_grad=0.5
)


@pytest.fixture(scope="module")
def data():
    return small_digits(labeled=20, test=16, unlabeled=24)


def _config(**changes):
    base = dict(epochs=2, batch_size=8, lr=1e-2, seed=3, device="cpu", amp="off", progress=False, sched="cosine")
    return TrainConfig(**{**base, **changes})


def _same_run(a, b):
    assert records(a) == records(b)
    left, right = checkpoint(a), checkpoint(b)
    assert_same_tensors(left["model"], right["model"], "model ")
    assert_same_tensors(left["task"], right["task"], "task ")
    assert_same_tensors(left["ema"], right["ema"], "ema ")
    assert left["history"] and left["epoch"] == right["epoch"] and left["step"] == right["step"] == 0
    for p, q in zip(left["optimizer"]["state"].values(), right["optimizer"]["state"].values()):
        assert_same_tensors(p, q, "optimizer ")


@pytest.mark.parametrize(
    ("kind", "settings", "call"),
    [
        ("supervised", SUPERVISED, 2),  # 20 images at 8: 3 steps an epoch; stop in the first epoch
        ("supervised", SUPERVISED, 5),  # ... and in the second
        ("supervised", {**SUPERVISED, "grad_accum_steps": 2, "amp": "bf16", "channels_last": True}, 5),
        ("fixmatch", {"batch_size": 4}, 4),  # 24 unlabeled at mu 2 x 4: 3 steps an epoch
        ("mean_teacher", {"batch_size": 4}, 3),  # 24 unlabeled at 4: 6 steps an epoch
    ],
    ids=["supervised-epoch1", "supervised-epoch2", "supervised-accumulation-bf16", "fixmatch", "mean_teacher"],
)
def test_sigterm_then_resume_equals_uninterrupted(data, tmp_path, kind, settings, call):
    config = _config(**settings)
    straight = engine(make_task(kind, data), data, tmp_path / "straight", config).fit()
    with pytest.raises(TrainingInterrupted) as stopped:
        engine(stop_at(make_task(kind, data), call), data, tmp_path / "resumed", config).fit()
    assert stopped.value.code == 143
    saved = checkpoint(tmp_path / "resumed")
    steps = engine(make_task(kind, data), data, None, config)._streams()[0].per_pass
    assert (saved["epoch"], saved["step"]) == divmod(call, steps)
    resumed = engine(make_task(kind, data), data, tmp_path / "resumed", config).fit(resume=True)
    _same_run(tmp_path / "straight", tmp_path / "resumed")
    assert resumed["final_accuracy"] == straight["final_accuracy"] and len(records(tmp_path / "resumed")) == 2
    if kind == "supervised":
        assert "ema_top1" in records(tmp_path / "resumed")[0]


def test_a_finished_run_resumed_trains_nothing(data, tmp_path):
    config = _config(epochs=1)
    engine(make_task("supervised", data), data, tmp_path, config).fit()
    before = (tmp_path / "metrics.jsonl").read_text(), checkpoint(tmp_path)["model"]
    task = make_task("supervised", data)
    engine(task, data, tmp_path, config).fit(resume=True)
    assert (tmp_path / "metrics.jsonl").read_text() == before[0]
    assert_same_tensors(task.model.state_dict(), before[1])


@pytest.mark.slow
def test_per_image_randomness_does_not_depend_on_workers(tmp_path):
    config = DataConfig((3, 24, 24), "bilinear", (0.5,) * 3, (0.5,) * 3, 1.0)
    data = build_data("digits", config, num_labeled=24, scale=(0.3, 1.0), ratio=(0.75, 1.33), hflip=0.5, seed=1)
    data.test = data.test.subset(range(8))
    runs = {}
    for workers in (0, 2):
        out = tmp_path / f"workers{workers}"
        engine(make_task("supervised", data), data, out, _config(epochs=1, workers=workers)).fit()
        runs[workers] = out
    _same_run(runs[0], runs[2])
    with pytest.raises(TrainingInterrupted):  # and a run stopped with workers resumes exactly without them
        engine(stop_at(make_task("supervised", data), 2), data, tmp_path / "mixed", _config(epochs=1, workers=2)).fit()
    engine(make_task("supervised", data), data, tmp_path / "mixed", _config(epochs=1, workers=0)).fit(resume=True)
    _same_run(runs[0], tmp_path / "mixed")
    keyed = KeyedDataset(data.labeled)  # the crops are random: a function of (seed, pass, index)
    assert torch.equal(keyed[(0, 1)][0], keyed[(0, 1)][0])
    assert any(not torch.equal(keyed[(i, 0)][0], keyed[(i, 1)][0]) for i in range(4))


def test_resume_without_a_checkpoint_starts_fresh(data, tmp_path):
    config = _config(epochs=1)
    engine(make_task("supervised", data), data, tmp_path / "fresh", config).fit()
    engine(make_task("supervised", data), data, tmp_path / "resume", config).fit(resume=True)
    _same_run(tmp_path / "fresh", tmp_path / "resume")

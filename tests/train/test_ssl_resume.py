"""FlexMatch, FreeMatch, SoftMatch and UDA on the engine: two epochs straight equal one epoch and a resumed
second, bit for bit (weights, optimizer, the methods' state buffers); the state is in the checkpoint."""

from __future__ import annotations

import pytest
import torch

from effl_plugins.testing import small_digits
from effl_plugins.train import TrainConfig
from effl_plugins.train.tasks import FlexMatchTask, FreeMatchTask, SoftMatchTask, UDATask

from ._helpers import assert_same_tensors, checkpoint, engine, model, model_input, records

STRONG = "brightness(max_delta=0.3)"


@pytest.fixture(scope="module")
def data():
    return small_digits(labeled=20, test=16, unlabeled=24)


def _task(kind: str, data):
    net, inputs = model(), model_input(data)
    shared = dict(mu=2, strong=STRONG, flip=False)
    if kind == "flexmatch":  # a low tau so that images get selected within two short epochs
        return FlexMatchTask(net, inputs, num_unlabeled=len(data.unlabeled), threshold=0.15, **shared)
    if kind == "freematch":
        return FreeMatchTask(net, inputs, momentum=0.9, lambda_f=0.01, **shared)
    if kind == "softmatch":
        return SoftMatchTask(net, inputs, momentum=0.9, **shared)
    return UDATask(net, inputs, tsa="log", threshold=0.15, **shared)


STATE = {
    "flexmatch": ("selected",),
    "freematch": ("time_p", "p_model", "label_hist"),
    "softmatch": ("p_model", "aligned_steps", "confidence_mean", "confidence_var"),
    "uda": (),
}


def _config(epochs: int) -> TrainConfig:
    return TrainConfig(
        epochs=epochs, batch_size=4, lr=1e-2, seed=5, device="cpu", amp="off", progress=False, sched="none"
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flexmatch", "freematch", "softmatch", "uda"])
def test_one_epoch_then_resume_equals_two_straight(data, tmp_path, kind):
    straight = _task(kind, data)
    engine(straight, data, tmp_path / "straight", _config(2)).fit()
    first = _task(kind, data)
    engine(first, data, tmp_path / "resumed", _config(1)).fit()
    saved = checkpoint(tmp_path / "resumed")["task"]
    fresh = _task(kind, data)
    for name in STATE[kind]:  # the state moved and the checkpoint carries it
        assert torch.equal(saved[name], getattr(first, name)) and not torch.equal(saved[name], getattr(fresh, name))
    resumed = _task(kind, data)
    engine(resumed, data, tmp_path / "resumed", _config(2)).fit(resume=True)
    assert_same_tensors(straight.state_dict(), resumed.state_dict(), f"{kind} ")
    left, right = checkpoint(tmp_path / "straight"), checkpoint(tmp_path / "resumed")
    for p, q in zip(left["optimizer"]["state"].values(), right["optimizer"]["state"].values()):
        assert_same_tensors(p, q, "optimizer ")
    assert records(tmp_path / "straight") == records(tmp_path / "resumed")

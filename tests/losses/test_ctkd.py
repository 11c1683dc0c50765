"""ctkd: KD with an adversarial learnable temperature on a cosine curriculum (Li et al. 2023)."""

from __future__ import annotations

import io
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import ce64, inputs, kl64, log_softmax64


def kd64(s, t, temperature):
    return temperature**2 * kl64(log_softmax64(t.double() / temperature), log_softmax64(s / temperature))


def official_decay_value(epoch, max_value=0.0, min_value=-1.0, loops=10):
    """The official script's CosineDecay(decay_max=0, decay_min=-1, decay_loops=10).get_value(epoch)."""
    epoch = min(max(epoch, 0), loops)
    return (math.cos(epoch * math.pi / loops) + 1.0) * 0.5 * (max_value - min_value) + min_value


@pytest.mark.parametrize("epoch", [0, 1, 2.5, 5, 9, 10, 11, 240])
def test_reversal_weight_is_the_official_cosine_curriculum(epoch):
    ctkd = ep.create_loss("ctkd")
    ctkd.set_epoch(epoch)
    assert ctkd.reversal_weight() == pytest.approx(-official_decay_value(epoch), abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    epoch=st.floats(0, 15),
    theta=st.floats(-3, 3),
    batch=st.integers(1, 8),
    labelled=st.booleans(),
)
def test_value_and_gradients_match_float64_reference(seed, epoch, theta, batch, labelled):
    s, s64, t, y = inputs(seed, batch, 6)
    y = y if labelled else None
    ctkd = ep.create_loss("ctkd")
    with torch.no_grad():
        ctkd.theta.fill_(theta)
    out = ctkd(s, t, y, epoch=epoch)
    theta64 = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    temperature = 1.0 + 20.0 * torch.sigmoid(theta64)
    ref = 0.9 * kd64(s64, t, temperature) + (0.0 if y is None else 0.1 * ce64(s64, y))
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out["temperature"].double(), temperature.detach(), rtol=1e-6, atol=1e-6)
    out["loss"].backward()
    ref.backward()
    torch.testing.assert_close(s.grad.double(), s64.grad, rtol=1e-4, atol=1e-6)
    weight = (1 - math.cos(math.pi * min(epoch, 10) / 10)) / 2
    torch.testing.assert_close(ctkd.theta.grad.double(), -weight * theta64.grad, rtol=1e-2, atol=1e-5)


def test_the_temperature_learns_to_raise_the_kd_loss():
    s, _, t, _ = inputs(7, 16, 10, scale=4.0)
    ctkd = ep.create_loss("ctkd", alpha=1.0)
    ctkd.set_epoch(10)
    optimizer = torch.optim.SGD(ctkd.parameters(), lr=5.0)
    before = ctkd(s.detach(), t)["kd"].item()
    for _ in range(5):
        optimizer.zero_grad()
        ctkd(s.detach(), t)["loss"].backward()
        optimizer.step()
    assert ctkd(s.detach(), t)["kd"].item() > before
    ctkd.set_epoch(0)  # no reversal weight yet: theta does not move
    theta = ctkd.theta.detach().clone()
    optimizer.zero_grad()
    ctkd(s.detach(), t)["loss"].backward()
    optimizer.step()
    assert torch.equal(ctkd.theta.detach(), theta)


@pytest.mark.parametrize("progress, epoch", [(0.0, 0.0), (1 / 48, 5.0), (1 / 24, 10.0), (0.5, 120.0), (1.0, 240.0)])
def test_progress_is_the_fraction_of_the_official_240_epochs(progress, epoch):
    ctkd = ep.create_loss("ctkd")
    ctkd.set_progress(progress)
    assert ctkd.epoch == pytest.approx(epoch, abs=1e-9)
    assert ctkd.reversal_weight() == pytest.approx(-official_decay_value(epoch), abs=1e-12)
    short = ep.create_loss("ctkd", total_epochs=20, decay_epochs=1)  # a 20-epoch run, curriculum over epoch 1
    short.set_progress(progress)
    assert short.epoch == pytest.approx(20 * progress, abs=1e-9)


@pytest.mark.parametrize("progress", [-0.1, 1.5, float("nan"), None])
def test_bad_progress(progress):
    with pytest.raises(ValueError, match="progress"):
        ep.create_loss("ctkd").set_progress(progress)


def test_theta_and_epoch_are_in_the_state_dict():
    ctkd = ep.create_loss("ctkd")
    ctkd.set_epoch(7)
    with torch.no_grad():
        ctkd.theta.fill_(-0.25)
    buffer = io.BytesIO()
    torch.save(ctkd.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["_extra_state"] == {"epoch": 7.0}
    restored = ep.create_loss("ctkd")
    restored.load_state_dict(state)
    assert restored.reversal_weight() == ctkd.reversal_weight() and restored.theta.item() == -0.25
    assert [name for name, _ in ctkd.named_parameters()] == ["theta"]
    assert ctkd.temperature().item() == pytest.approx(1 + 20 / (1 + math.exp(0.25)), rel=1e-6)


def test_defaults_follow_the_official_script():
    ctkd = ep.create_loss("ctkd")
    assert (
        ctkd.t_start,
        ctkd.t_range,
        ctkd.lambda_max,
        ctkd.decay_epochs,
        ctkd.alpha,
        ctkd.ce_weight,
        ctkd.total_epochs,
    ) == (1.0, 20.0, 1.0, 10, 0.9, 0.1, 240)
    assert ctkd.temperature().item() == pytest.approx(1 + 20 / (1 + math.exp(-1)), rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t_start": 0}, "t_start"),
        ({"t_range": -1}, "t_range"),
        ({"lambda_max": -1}, "lambda_max"),
        ({"decay_epochs": 0}, "decay_epochs"),
        ({"decay_epochs": 2.5}, "decay_epochs"),
        ({"alpha": -1}, "alpha"),
        ({"total_epochs": 0}, "total_epochs"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("ctkd", **kwargs)


@pytest.mark.parametrize("epoch", [-1, float("nan"), float("inf"), "3", True])
def test_bad_epochs(epoch):
    with pytest.raises(ValueError, match="epoch"):
        ep.create_loss("ctkd").set_epoch(epoch)
    with pytest.raises(ValueError, match="teacher_logits is required"):
        ep.create_loss("ctkd")(torch.randn(2, 3), None)

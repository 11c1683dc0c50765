"""nkd: target term + normalized non-target term (Yang et al. 2023) against float64 references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import ce64, inputs, log_softmax64


def nkd64(s, t, gt, temperature, gamma):
    """target = -mean_b p^t_gt log p^s_gt (T = 1); non-target: the non-target probabilities at T renormalized
    by 1 - p_gt, then -gamma T^2 mean_b sum_k q^t_k log q^s_k."""
    p_s, p_t = log_softmax64(s).exp(), log_softmax64(t.double()).exp()
    onehot = torch.nn.functional.one_hot(gt, s.shape[1]).bool()
    target = -(p_t[onehot] * p_s[onehot].log()).mean()
    q = []
    for logits in (s.double(), t.double()):
        p = log_softmax64(logits / temperature).exp()
        q.append(p[~onehot].view(len(p), -1) / (1 - p[onehot])[:, None])
    non_target = -(q[1] * q[0].log()).sum(1).mean() * temperature**2
    return target + gamma * non_target


def test_two_samples_by_hand_at_official_values():
    # three classes, target 0; T = 1, gamma = 1.5
    s = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]], dtype=torch.float64)
    t = torch.tensor([[2.0, math.log(3.0), 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    gt = torch.tensor([0, 2])
    # sample 0: p_s = 1/3 each; p_t = (e^2, 3, 1) / (e^2 + 4); non-target teacher (3/4, 1/4), student (1/2, 1/2)
    # sample 1: p_t = 1/3 each; student non-target logits (1, 2) at T = 1; teacher non-target (1/2, 1/2)
    z1 = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    target = -(math.exp(2) / (math.exp(2) + 4) * math.log(1 / 3) + (1 / 3) * (3 - z1)) / 2
    rest1 = math.log(math.exp(1) + math.exp(2))
    non_target = -((0.75 + 0.25) * math.log(0.5) + 0.5 * (1 - rest1) + 0.5 * (2 - rest1)) / 2
    out = ep.create_loss("nkd", ce_weight=0.0)(s, t, gt)
    assert out["target"].item() == pytest.approx(target, rel=1e-12)
    assert out["non_target"].item() == pytest.approx(non_target, rel=1e-12)
    assert out["loss"].item() == pytest.approx(target + 1.5 * non_target, rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    temperature=st.floats(0.5, 8),
    gamma=st.floats(0, 4),
    ce_weight=st.floats(0, 2),
    batch=st.integers(1, 10),
    classes=st.integers(2, 20),
)
def test_value_and_gradient_match_float64_reference(seed, temperature, gamma, ce_weight, batch, classes):
    s, s64, t, y = inputs(seed, batch, classes, scale=2.0)
    out = ep.create_loss("nkd", temperature=temperature, gamma=gamma, ce_weight=ce_weight)(s, t, y)
    ref = nkd64(s64, t, y, temperature, gamma) + ce_weight * ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-5 * temperature**2)
    out["loss"].backward()
    ref.backward()
    torch.testing.assert_close(s.grad.double(), s64.grad, rtol=1e-4, atol=1e-6 * temperature**2)


def test_defaults_are_the_official_ones():
    nkd = ep.create_loss("nkd")
    assert (nkd.temperature, nkd.gamma, nkd.ce_weight, nkd.target_from_teacher) == (1.0, 1.5, 1.0, False)


def test_targets_are_required_unless_taken_from_the_teacher():
    s, s64, t, _ = inputs(3, 5, 7)
    with pytest.raises(ValueError, match="nkd needs targets"):
        ep.create_loss("nkd")(s, t)
    out = ep.create_loss("nkd", target_from_teacher=True)(s, t)
    assert set(out) == {"loss", "target", "non_target"}
    ref = nkd64(s64, t, t.argmax(1), 1.0, 1.5).detach()
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-5, atol=1e-6)


def test_soft_targets_use_their_argmax_and_soft_cross_entropy():
    s, s64, t, y = inputs(4, 6, 5)
    soft = torch.nn.functional.one_hot(y, 5).double() * 0.8 + 0.04
    out = ep.create_loss("nkd")(s, t, soft.float())
    ref = nkd64(s64, t, y, 1.0, 1.5) - (soft * log_softmax64(s64)).sum(1).mean()
    torch.testing.assert_close(out["loss"].double(), ref.detach(), rtol=1e-5, atol=1e-6)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least 2 classes"):
        ep.create_loss("nkd")(torch.randn(3, 1), torch.randn(3, 1), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"temperature": 0}, "temperature"), ({"gamma": -1}, "gamma"), ({"ce_weight": float("inf")}, "ce_weight")],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("nkd", **kwargs)

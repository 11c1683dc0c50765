"""soft_target_ce: T^2-scaled cross-entropy against the teacher's softened distribution."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import assert_matches, ce64, inputs, log_softmax64


def reference(s, t, y, temperature, alpha):
    soft = (
        -(log_softmax64(t.double() / temperature).exp() * log_softmax64(s / temperature)).sum(-1).mean()
        * temperature**2
    )
    return soft if y is None else alpha * soft + (1 - alpha) * ce64(s, y)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    temperature=st.floats(0.5, 8),
    alpha=st.floats(0, 1),
    batch=st.integers(1, 12),
    classes=st.integers(2, 30),
    labelled=st.booleans(),
)
def test_value_and_gradient_match_float64_reference(seed, temperature, alpha, batch, classes, labelled):
    s, s64, t, y = inputs(seed, batch, classes)
    y = y if labelled else None
    out = ep.create_loss("soft_target_ce", temperature=temperature, alpha=alpha)(s, t, y)
    assert_matches(out["loss"], reference(s64, t, y, temperature, alpha), [(s, s64)], atol=2e-6 * temperature**2)


def test_differs_from_kd_by_the_teacher_entropy():
    s, _, t, _ = inputs(0, 6, 9)
    soft = ep.create_loss("soft_target_ce", temperature=2.0)(s, t)["soft"]
    kd = ep.create_loss("kd", temperature=2.0)(s, t)["kd"]
    log_p_t = log_softmax64(t / 2.0)
    entropy = -(log_p_t.exp() * log_p_t).sum(-1).mean() * 4.0
    torch.testing.assert_close((soft - kd).double(), entropy, rtol=1e-5, atol=1e-5)


def deit_soft64(s, t, temperature):
    """DeiT's soft distillation term (facebookresearch/deit losses.py), written here in float64:
    T^2 * sum over batch and classes of p_t (log p_t - log p_s), divided by B * K."""
    log_p_s, log_p_t = log_softmax64(s / temperature), log_softmax64(t / temperature)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum() * temperature**2 / s.numel()


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_deits_soft_term_is_kd_over_k_and_our_soft_over_k_exceeds_it_by_the_entropy(temperature):
    s, _, t, _ = inputs(4, 5, 7)
    deit = deit_soft64(s.detach(), t, temperature)
    kd = ep.create_loss("kd", temperature=temperature)(s, t)["kd"].double()
    soft = ep.create_loss("soft_target_ce", temperature=temperature)(s, t)["soft"].double()
    torch.testing.assert_close(kd / 7, deit, rtol=1e-5, atol=1e-7)
    log_p_t = log_softmax64(t / temperature)
    entropy = -(log_p_t.exp() * log_p_t).sum(-1).mean() * temperature**2
    torch.testing.assert_close(soft / 7 - deit, entropy / 7, rtol=1e-5, atol=1e-6)


def test_defaults_are_deit():
    loss = ep.create_loss("soft_target_ce")
    assert (loss.temperature, loss.alpha) == (1.0, 0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0}, "temperature"),
        ({"alpha": 2}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"temperature": "4"}, "temperature"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("soft_target_ce", **kwargs)

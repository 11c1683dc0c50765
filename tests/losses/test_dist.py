"""dist: inter- and intra-class Pearson relations (Huang et al. 2022) against float64 formulas."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import assert_matches, ce64, inputs, log_softmax64


def pearson64(a, b, eps=1e-8):
    """Row-wise r = cov(a, b) / (std(a) std(b)) written with sums over centred rows."""
    n = a.shape[1]
    da, db = a - a.sum(1, keepdim=True) / n, b - b.sum(1, keepdim=True) / n
    return (da * db).sum(1) / (torch.sqrt((da * da).sum(1)) * torch.sqrt((db * db).sum(1)) + eps)


def reference(s, t, y, beta, gamma, tau, ce_weight):
    y_s, y_t = log_softmax64(s / tau).exp(), log_softmax64(t.double() / tau).exp()
    inter = tau**2 * (1 - pearson64(y_s, y_t).mean())
    intra = tau**2 * (1 - pearson64(y_s.T, y_t.T).mean())
    total = beta * inter + gamma * intra
    return total if y is None else total + ce_weight * ce64(s, y)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    tau=st.floats(1, 4),
    beta=st.floats(0, 2),
    gamma=st.floats(0, 2),
    ce_weight=st.floats(0, 2),
    batch=st.integers(3, 12),
    classes=st.integers(3, 30),
    labelled=st.booleans(),
)
def test_value_and_gradient_match_float64_reference(seed, tau, beta, gamma, ce_weight, batch, classes, labelled):
    """The domain keeps the relations well conditioned in float32: a batch of 2 makes every intra-class
    correlation +-1 and 2 classes every inter-class one (their gradients are rounding noise), and tau < 1 on
    these logits saturates softmax columns near 1, whose centred values (float32 spacing 6e-8 there) lose three
    digits."""
    s, s64, t, y = inputs(seed, batch, classes)
    y = y if labelled else None
    out = ep.create_loss("dist", beta=beta, gamma=gamma, tau=tau, ce_weight=ce_weight)(s, t, y)
    assert_matches(out["loss"], reference(s64, t, y, beta, gamma, tau, ce_weight), [(s, s64)], atol=1e-5 * tau**2)


def test_perfect_relations_give_zero():
    t = torch.randn(6, 8)
    out = ep.create_loss("dist")(t.clone().requires_grad_(True), t)
    assert out["inter"].abs() < 1e-5 and out["intra"].abs() < 1e-5


def test_constant_rows_and_columns_stay_finite():
    s = torch.zeros(4, 6, requires_grad=True)  # uniform student: every row and column constant
    t = torch.randn(4, 6)
    out = ep.create_loss("dist")(s, t)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and torch.isfinite(s.grad).all()
    torch.testing.assert_close(out["loss"], torch.tensor(2.0))  # pearson 0 on both relations


def test_defaults_are_the_papers():
    dist = ep.create_loss("dist")
    assert (dist.beta, dist.gamma, dist.tau) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"beta": -1}, "beta"), ({"gamma": float("nan")}, "gamma"), ({"tau": 0}, "tau"), ({"ce_weight": -1}, "ce_weight")],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("dist", **kwargs)

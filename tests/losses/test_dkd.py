"""dkd: TCKD + NCKD (Zhao et al. 2022) against the paper's formulas in float64."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import assert_matches, ce64, inputs, log_softmax64


def reference_parts(s, t, gt, temperature):
    """TCKD and NCKD from probabilities: b = [p_gt, 1 - p_gt], q_k = p_k / (1 - p_gt) for k != gt."""
    p_s, p_t = log_softmax64(s / temperature).exp(), log_softmax64(t.double() / temperature).exp()
    onehot = torch.nn.functional.one_hot(gt, s.shape[1]).bool()
    parts = []
    for p in (p_s, p_t):
        gt_p = p[onehot]
        b = torch.stack([gt_p, 1 - gt_p], 1)
        q = p[~onehot].view(len(p), -1) / (1 - gt_p)[:, None]
        parts.append((b, q))
    (b_s, q_s), (b_t, q_t) = parts
    tckd = (b_t * (b_t.log() - b_s.log())).sum(1).mean() * temperature**2
    nckd = (q_t * (q_t.log() - q_s.log())).sum(1).mean() * temperature**2
    return tckd, nckd


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    temperature=st.floats(1, 8),
    alpha=st.floats(0, 2),
    beta=st.floats(0, 10),
    ce_weight=st.floats(0, 2),
    batch=st.integers(1, 12),
    classes=st.integers(2, 30),
)
def test_value_and_gradient_match_float64_reference(seed, temperature, alpha, beta, ce_weight, batch, classes):
    s, s64, t, y = inputs(seed, batch, classes, scale=2.0)
    out = ep.create_loss("dkd", alpha=alpha, beta=beta, temperature=temperature, ce_weight=ce_weight)(s, t, y)
    tckd, nckd = reference_parts(s64, t, y, temperature)
    torch.testing.assert_close(out["tckd"].double(), tckd.detach(), rtol=1e-4, atol=2e-6 * temperature**2)
    torch.testing.assert_close(out["nckd"].double(), nckd.detach(), rtol=1e-4, atol=2e-6 * temperature**2)
    ref = alpha * tckd + beta * nckd + ce_weight * ce64(s64, y)
    assert_matches(out["loss"], ref, [(s, s64)], atol=1e-5 * temperature**2)


def test_defaults_are_the_papers():
    dkd = ep.create_loss("dkd")
    assert (dkd.alpha, dkd.beta, dkd.temperature, dkd.ce_weight, dkd.warmup) == (1.0, 8.0, 4.0, 1.0, 0)


def test_targets_are_required_unless_taken_from_the_teacher():
    s, s64, t, _ = inputs(3, 5, 7)
    with pytest.raises(ValueError, match="dkd needs targets"):
        ep.create_loss("dkd")(s, t)
    out = ep.create_loss("dkd", target_from_teacher=True)(s, t)
    assert set(out) == {"loss", "tckd", "nckd"}
    tckd, nckd = reference_parts(s64, t, t.argmax(1), 4.0)
    torch.testing.assert_close(out["loss"].double(), (tckd + 8 * nckd).detach(), rtol=1e-4, atol=1e-4)


def test_soft_targets_use_their_argmax_and_soft_cross_entropy():
    s, _, t, y = inputs(4, 6, 5)
    soft = torch.nn.functional.one_hot(y, 5).float() * 0.8 + 0.04
    dkd = ep.create_loss("dkd")
    hard_out, soft_out = dkd(s, t, y), dkd(s, t, soft)
    torch.testing.assert_close(soft_out["tckd"], hard_out["tckd"])
    torch.testing.assert_close(soft_out["nckd"], hard_out["nckd"])
    expected_ce = -(soft.double() * torch.log_softmax(s.double(), 1)).sum(1).mean()
    torch.testing.assert_close(soft_out["ce"].double(), expected_ce, rtol=1e-5, atol=1e-6)


def test_warmup_ramps_the_distillation_terms():
    s, _, t, y = inputs(5, 4, 6)
    dkd = ep.create_loss("dkd", warmup=20)
    full = ep.create_loss("dkd")(s, t, y)
    for epoch, factor in [(0, 0.0), (5, 0.25), (20, 1.0), (40, 1.0)]:
        out = dkd(s, t, y, epoch=epoch)
        expected = factor * (out["tckd"] + 8 * out["nckd"]) + out["ce"]
        torch.testing.assert_close(out["loss"], expected)
    torch.testing.assert_close(dkd(s, t, y, epoch=20)["loss"], full["loss"])
    with pytest.raises(ValueError, match="epoch"):
        dkd(s, t, y)


def test_two_classes_leave_no_non_target_knowledge():
    s, _, t, y = inputs(6, 4, 2)
    assert ep.create_loss("dkd")(s, t, y)["nckd"].abs() < 1e-6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": -1}, "alpha"),
        ({"beta": float("inf")}, "beta"),
        ({"temperature": 0}, "temperature"),
        ({"ce_weight": -0.1}, "ce_weight"),
        ({"warmup": -1}, "warmup"),
        ({"warmup": 2.5}, "warmup"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("dkd", **kwargs)

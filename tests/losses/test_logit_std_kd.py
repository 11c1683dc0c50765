"""logit_std_kd: KD on z-scored logits (Sun et al. 2024) against float64 formulas."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import assert_matches, ce64, inputs, kl64, log_softmax64


def zscore64(z):
    """(z - mean) / (unbiased std + 1e-7), per row."""
    z = z.double()
    k = z.shape[1]
    centred = z - z.sum(1, keepdim=True) / k
    return centred / (torch.sqrt((centred**2).sum(1, keepdim=True) / (k - 1)) + 1e-7)


def reference(s, t, y, temperature, kd_weight, ce_weight):
    kd = temperature**2 * kl64(log_softmax64(zscore64(t) / temperature), log_softmax64(zscore64(s) / temperature))
    return kd_weight * kd if y is None else kd_weight * kd + ce_weight * ce64(s, y)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    temperature=st.floats(0.5, 6),
    kd_weight=st.floats(0, 10),
    ce_weight=st.floats(0, 1),
    batch=st.integers(1, 12),
    classes=st.integers(3, 30),
    scale=st.floats(0.1, 20),
    labelled=st.booleans(),
)
def test_value_and_gradient_match_float64_reference(
    seed, temperature, kd_weight, ce_weight, batch, classes, scale, labelled
):
    s, s64, t, y = inputs(seed, batch, classes, scale=scale)
    y = y if labelled else None
    out = ep.create_loss("logit_std_kd", temperature=temperature, kd_weight=kd_weight, ce_weight=ce_weight)(s, t, y)
    # the loss and its gradient scale with kd_weight, and so does float32 rounding. K >= 3: for K = 2 every
    # z-scored row is +-1/sqrt(2), so the KD gradient is exactly zero and float32 returns its rounding noise
    atol = 2e-5 * temperature**2 * max(1.0, kd_weight)
    assert_matches(out["loss"], reference(s64, t, y, temperature, kd_weight, ce_weight), [(s, s64)], atol=atol)


def test_two_classes_standardize_to_plus_minus_one_over_root_two():
    """With K = 2 the loss depends on the order of each row's logits only (its gradient is zero)."""
    s, _, t, _ = inputs(4, 6, 2)
    loss = ep.create_loss("logit_std_kd", temperature=1.0, kd_weight=1.0)
    expected = kl64(log_softmax64(zscore64(t)), log_softmax64(zscore64(s)))
    torch.testing.assert_close(loss(s, t)["kd"].double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss(s * 0.01 + 5, t)["kd"], loss(s, t)["kd"], rtol=1e-5, atol=1e-6)
    flipped = s.detach().clone()
    flipped[0] = flipped[0].flip(0)  # the first row's order reversed: its KL changes
    assert not torch.allclose(loss(flipped, t)["kd"], loss(s, t)["kd"])


def test_invariant_to_shift_and_scale_of_either_logits():
    s, _, t, _ = inputs(2, 5, 8)
    loss = ep.create_loss("logit_std_kd")
    base = loss(s, t)["kd"]
    torch.testing.assert_close(loss(s * 7 + 3, t * 0.2 - 1)["kd"], base, rtol=1e-4, atol=1e-5)


def test_constant_rows_standardize_to_zero_with_finite_gradient():
    s = torch.full((3, 5), 2.5, requires_grad=True)
    t = torch.randn(3, 5)
    out = ep.create_loss("logit_std_kd")(s, t)
    out["loss"].backward()
    assert torch.isfinite(s.grad).all()
    ref = 4.0 * kl64(log_softmax64(zscore64(t) / 2.0), log_softmax64(torch.zeros(3, 5)))
    torch.testing.assert_close(out["kd"].double(), ref, rtol=1e-5, atol=1e-6)


def test_defaults_are_the_papers_kd_setting():
    loss = ep.create_loss("logit_std_kd")
    assert (loss.temperature, loss.kd_weight, loss.ce_weight) == (2.0, 9.0, 0.1)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"temperature": -2}, "temperature"), ({"kd_weight": -1}, "kd_weight"), ({"ce_weight": "x"}, "ce_weight")],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("logit_std_kd", **kwargs)


def test_one_class_cannot_be_standardized():
    with pytest.raises(ValueError, match="at least 2 classes"):
        ep.create_loss("logit_std_kd")(torch.randn(3, 1), torch.randn(3, 1))

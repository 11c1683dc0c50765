"""kd: value and gradient against a float64 reference, the alpha mix, errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep


def reference_kd(s: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * sum_k p_t log(p_t / p_s) / B, written out in float64."""
    s, t = s.double(), t.double()
    p_t = torch.softmax(t / temperature, -1)
    log_p_s = torch.log_softmax(s / temperature, -1)
    return temperature**2 * (p_t * (torch.log(p_t) - log_p_s)).sum(-1).mean()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000), temperature=st.floats(0.5, 10), batch=st.integers(1, 16), classes=st.integers(2, 50)
)
def test_kd_value_and_gradient_match_float64_reference(seed, temperature, batch, classes):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(batch, classes, generator=g) * 3).requires_grad_(True)
    t = torch.randn(batch, classes, generator=g) * 3
    out = ep.create_loss("kd", temperature=temperature)(s, t)
    s64 = s.detach().double().requires_grad_(True)
    ref = reference_kd(s64, t, temperature)
    # float32 log-probabilities carry ~1e-7 absolute error each, scaled by T^2 in the loss
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-5, atol=2e-6 * temperature**2)
    out["loss"].backward()
    ref.backward()
    torch.testing.assert_close(s.grad.double(), s64.grad, rtol=1e-4, atol=1e-6)


def test_alpha_mixes_kd_and_cross_entropy():
    s, t = torch.randn(6, 5), torch.randn(6, 5)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    out = ep.create_loss("kd", temperature=2.0, alpha=0.3)(s, t, y)
    ce = torch.nn.functional.cross_entropy(s.double(), y)
    expected = 0.3 * reference_kd(s, t, 2.0) + 0.7 * ce
    torch.testing.assert_close(out["loss"].double(), expected, rtol=1e-6, atol=1e-6)
    assert set(out) == {"loss", "kd", "ce"}
    no_targets = ep.create_loss("kd", temperature=2.0, alpha=0.3)(s, t)
    assert set(no_targets) == {"loss", "kd"}
    torch.testing.assert_close(no_targets["loss"], out["kd"])


def test_identical_distributions_give_zero():
    s = torch.randn(4, 7)
    assert ep.create_loss("kd")(s, s.clone())["loss"].abs() < 1e-6


def test_teacher_gets_no_gradient():
    s = torch.randn(4, 7, requires_grad=True)
    t = torch.randn(4, 7, requires_grad=True)
    ep.create_loss("kd")(s, t, torch.zeros(4, dtype=torch.long))["loss"].backward()
    assert t.grad is None and s.grad is not None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0}, "temperature"),
        ({"temperature": -1}, "temperature"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": -0.1}, "alpha"),
        ({"temperature": float("nan")}, "temperature"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("kd", **kwargs)


def test_mismatched_class_counts_raise():
    with pytest.raises(ValueError, match="teacher_classes"):
        ep.create_loss("kd")(torch.randn(4, 10), torch.randn(4, 100))
    with pytest.raises(ValueError, match="teacher_logits is required"):
        ep.create_loss("kd")(torch.randn(4, 10))
    with pytest.raises(ValueError, match="targets"):
        ep.create_loss("kd")(torch.randn(4, 10), torch.randn(4, 10), torch.zeros(5, dtype=torch.long))

"""sp: batch similarity matrices (Tung & Mori 2019) against float64 references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import ce64, inputs


def sp64(f_s, f_t):
    """G = Q Q^T with each row divided by its l2 norm (Q the flattened map); ||G_s - G_t||_F^2 / b^2."""

    def similarity(f):
        q = f.double().reshape(len(f), -1)
        g = q @ q.T
        return g / g.norm(dim=1, keepdim=True)

    return ((similarity(f_s) - similarity(f_t)) ** 2).sum() / len(f_s) ** 2


def test_two_samples_by_hand():
    # student rows orthogonal: G_s = [[1, 0], [0, 1]]; teacher rows equal: G_t = [[1, 1], [1, 1]] / sqrt 2
    f_s = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    f_t = torch.tensor([[2.0, 2.0], [2.0, 2.0]], dtype=torch.float64)
    expected = (2 * (1 - 1 / math.sqrt(2)) ** 2 + 2 * (1 / math.sqrt(2)) ** 2) / 4
    out = ep.create_loss("sp", ce_weight=0.0)(torch.randn(2, 3), None, None, student_features=f_s, teacher_features=f_t)
    assert out["sp"].item() == pytest.approx(expected, rel=1e-12)
    assert out["loss"].item() == pytest.approx(3000 * expected, rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 6),
    cs=st.integers(1, 5),
    ct=st.integers(1, 5),
    hs=st.integers(1, 4),
    ht=st.integers(1, 4),
    pairs=st.integers(1, 2),
    weight=st.floats(0, 3000),
    labelled=st.booleans(),
)
def test_value_and_gradient_match_float64_reference(seed, batch, cs, ct, hs, ht, pairs, weight, labelled):
    g = torch.Generator().manual_seed(seed)
    f_s = [torch.randn(batch, cs, hs, hs, generator=g).requires_grad_(True) for _ in range(pairs)]
    f_t = [torch.randn(batch, ct, ht, ht, generator=g).requires_grad_(True) for _ in range(pairs)]
    s, s64, t, y = inputs(seed, batch, 4)
    y = y if labelled else None
    out = ep.create_loss("sp", sp_weight=weight)(s, t, y, student_features=f_s, teacher_features=f_t)
    f_s64 = [f.detach().double().requires_grad_(True) for f in f_s]
    ref = weight * sum(sp64(a, b.detach()) for a, b in zip(f_s64, f_t))
    ref = ref if y is None else ref + ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-6 * max(weight, 1))
    out["loss"].backward()
    ref.backward()
    for a, a64 in zip(f_s, f_s64):
        torch.testing.assert_close(a.grad.double(), a64.grad, rtol=1e-3, atol=1e-6 * max(weight, 1))
    assert all(b.grad is None for b in f_t)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_zero_for_the_same_features_and_blind_to_global_scale(seed, scale):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(5, 3, 2, 2, generator=g, dtype=torch.float64)
    f_s = torch.randn(5, 4, 3, 3, generator=g, dtype=torch.float64)
    sp = ep.create_loss("sp", ce_weight=0.0)
    assert sp(torch.randn(5, 2), None, None, student_features=scale * f, teacher_features=f)["sp"] < 1e-20
    a = sp(torch.randn(5, 2), None, None, student_features=scale * f_s, teacher_features=f)["sp"]
    b = sp(torch.randn(5, 2), None, None, student_features=f_s, teacher_features=f)["sp"]
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_without_features_the_loss_is_its_logit_part():
    s, _, t, y = inputs(2, 4, 5)
    assert set(ep.create_loss("sp")(s, t, y)) == {"loss", "ce"}
    with pytest.raises(ValueError, match="nothing to optimize"):
        ep.create_loss("sp")(s, t)


def test_defaults_follow_the_common_code():
    sp = ep.create_loss("sp")
    assert (sp.sp_weight, sp.ce_weight, sp.kd_weight) == (3000.0, 1.0, 0.0) and sp.uses_features


@pytest.mark.parametrize("kwargs, match", [({"sp_weight": -1}, "sp_weight"), ({"ce_weight": "1"}, "ce_weight")])
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("sp", **kwargs)


def test_batches_must_match():
    with pytest.raises(ValueError, match="same B"):
        ep.create_loss("sp")(
            torch.randn(3, 2),
            None,
            None,
            student_features=torch.randn(3, 4, 2, 2),
            teacher_features=torch.randn(2, 4, 2, 2),
        )

"""pkt: KL between cosine-kernel conditional probabilities (Passalis & Tefas 2018) against float64."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import ce64, inputs

EPS = 1e-7


def pkt64(s, t):
    """p_{i|j} = K_ij / sum_j K_ij with K_ij = (1 + cos(e_i, e_j)) / 2; mean_{ij} p^t log((p^t + eps) / (p^s + eps))."""

    def probabilities(e):
        e = e.double()
        b = len(e)
        kernel = torch.stack(
            [
                torch.stack([(1 + (e[i] @ e[j]) / ((e[i].norm() + EPS) * (e[j].norm() + EPS))) / 2 for j in range(b)])
                for i in range(b)
            ]
        )
        return kernel / kernel.sum(1, keepdim=True)

    p_s, p_t = probabilities(s), probabilities(t)
    return (p_t * torch.log((p_t + EPS) / (p_s + EPS))).sum() / len(s) ** 2


def test_two_points_by_hand():
    # student: orthogonal (cos 0 -> K = [[1, .5], [.5, 1]] -> rows [2/3, 1/3]); teacher: parallel (rows [1/2, 1/2])
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 1.0], [3.0, 3.0]], dtype=torch.float64)
    row = 0.5 * math.log((0.5 + EPS) / (2 / 3 + EPS)) + 0.5 * math.log((0.5 + EPS) / (1 / 3 + EPS))
    out = ep.create_loss("pkt", pkt_weight=1.0, ce_weight=0.0)(s, t)
    assert out["pkt"].item() == pytest.approx(2 * row / 4, rel=1e-6)  # 1e-6: the eps in 1 / (||e|| + eps)


# widths >= 2: at width 1 every cosine is +-1, kernels of exactly 0 sit at the scale of eps = 1e-7 and float32
# rounding of the cosine moves the loss by 1e-3 relative (the official formula's own conditioning)
@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 7),
    ds=st.integers(2, 6),
    dt=st.integers(2, 6),
    weight=st.floats(0, 30000),
    labelled=st.booleans(),
)
@example(seed=540, batch=7, ds=2, dt=2, weight=1.0, labelled=False)
def test_features_match_float64_reference(seed, batch, ds, dt, weight, labelled):
    g = torch.Generator().manual_seed(seed)
    f_s = torch.randn(batch, ds, 3, 3, generator=g).requires_grad_(True)
    f_t = torch.randn(batch, dt, 3, 3, generator=g).requires_grad_(True)
    s, s64, t, y = inputs(seed, batch, 4)
    y = y if labelled else None
    out = ep.create_loss("pkt", pkt_weight=weight)(s, t, y, student_features=f_s, teacher_features=f_t)
    f_s64 = f_s.detach().double().requires_grad_(True)
    ref = weight * pkt64(f_s64.mean((2, 3)), f_t.detach().mean((2, 3)))
    ref = ref if y is None else ref + ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-6 * max(weight, 1))
    out["loss"].backward()
    ref.backward()
    # float32 conditioning of the cosine kernel at width 2: element errors reach ~2e-4 of the largest gradient
    scale = f_s64.grad.abs().max().item()
    torch.testing.assert_close(f_s.grad.double(), f_s64.grad, rtol=1e-3, atol=1e-3 * scale + 1e-7)
    assert f_t.grad is None


def test_logits_are_the_embeddings_without_features():
    s, s64, t, y = inputs(5, 6, 8)
    out = ep.create_loss("pkt")(s, t, y)
    ref = 30000 * pkt64(s64, t) + ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-4)
    out["loss"].backward()
    ref.backward()
    torch.testing.assert_close(s.grad.double(), s64.grad, rtol=1e-3, atol=1e-4)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_zero_when_directions_agree_and_blind_to_per_sample_scale(seed):
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(6, 5, generator=g, dtype=torch.float64)
    scales = torch.rand(6, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    pkt = ep.create_loss("pkt", pkt_weight=1.0, ce_weight=0.0)
    assert pkt(scales * t, t)["pkt"].abs() < 1e-7
    s = torch.randn(6, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(pkt(scales * s, t)["pkt"], pkt(s, t)["pkt"], rtol=1e-5, atol=1e-9)
    assert pkt(s, t)["pkt"] > 0


def test_defaults_follow_the_official_code():
    pkt = ep.create_loss("pkt")
    assert (pkt.pkt_weight, pkt.ce_weight, pkt.kd_weight) == (30000.0, 1.0, 0.0) and pkt.uses_features


@pytest.mark.parametrize("kwargs, match", [({"pkt_weight": -1}, "pkt_weight"), ({"kd_weight": -1}, "kd_weight")])
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("pkt", **kwargs)


def test_bad_features():
    with pytest.raises(ValueError, match="student_features"):
        ep.create_loss("pkt")(
            torch.randn(2, 3), None, None, student_features=torch.randn(2), teacher_features=torch.randn(2, 4)
        )

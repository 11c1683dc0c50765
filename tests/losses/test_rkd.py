"""rkd: distance-wise and angle-wise relational terms (Park et al. 2019) against float64 references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import ce64, inputs


def huber64(x):
    return torch.where(x.abs() < 1, 0.5 * x * x, x.abs() - 0.5)


def distance_term64(s, t):
    """psi_D = ||e_i - e_j|| / mean_{i != j} ||e_i - e_j||, Huber averaged over all B x B entries (diagonal 0)."""

    def psi(e):
        b = len(e)
        rows = [[(e[i] - e[j]).norm() if i != j else e.new_zeros(()) for j in range(b)] for i in range(b)]
        d = torch.stack([torch.stack(r) for r in rows])
        return d / (d.sum() / (b * (b - 1)))

    return huber64(psi(s.double()) - psi(t.double())).mean()


def angle_term64(s, t):
    """psi_A(i, j, k): cosine at vertex j between e_i and e_k (0 where two points coincide), Huber over B^3."""

    def psi(e):
        b = len(e)
        out = e.new_zeros(b, b, b)
        for i in range(b):
            for j in range(b):
                for k in range(b):
                    if i != j and k != j:
                        u, v = e[i] - e[j], e[k] - e[j]
                        out[i, j, k] = (u @ v) / (u.norm() * v.norm())
        return out

    return huber64(psi(s.double()) - psi(t.double())).mean()


def test_distance_term_on_three_points_by_hand():
    student = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # sides 1, 1, sqrt 2
    teacher = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]], dtype=torch.float64)  # sides 3, 4, 5; mean 4
    a = 3 / (2 + math.sqrt(2))  # 1 / mean student side
    expected = ((a - 0.75) ** 2 + (a - 1.0) ** 2 + (math.sqrt(2) * a - 1.25) ** 2) / 9  # 0.5 x^2 on 6 of 9 entries
    out = ep.create_loss("rkd", distance_weight=1.0, angle_weight=0.0)(student, teacher)
    assert out["distance"].item() == pytest.approx(expected, rel=1e-12)
    # angles: student 90, 45, 45 degrees; teacher 90, acos(3/5), acos(4/5); 6 of 27 ordered triples differ
    expected_angle = ((math.sqrt(0.5) - 0.6) ** 2 + (math.sqrt(0.5) - 0.8) ** 2) / 27
    assert out["angle"].item() == pytest.approx(expected_angle, rel=1e-12)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-12)


def _gap(embeddings: torch.Tensor) -> float:
    """The smallest distance between two of the ``[B, D]`` embeddings."""
    gaps = torch.pdist(embeddings.detach())
    return float(gaps.min()) if gaps.numel() else math.inf


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(2, 6),
    ds=st.integers(1, 6),
    dt=st.integers(1, 6),
    wd=st.floats(0, 50),
    wa=st.floats(0, 100),
    labelled=st.booleans(),
)
@example(seed=238, batch=5, ds=2, dt=1, wd=1.0, wa=0.0, labelled=False)  # a teacher pair 7.6e-7 apart
def test_features_match_float64_reference(seed, batch, ds, dt, wd, wa, labelled):
    g = torch.Generator().manual_seed(seed)
    f_s = torch.randn(batch, ds, 2, 2, generator=g).requires_grad_(True)
    f_t = torch.randn(batch, dt, 2, 2, generator=g).requires_grad_(True)
    s, s64, t, y = inputs(seed, batch, 4)
    y = y if labelled else None
    rkd = ep.create_loss("rkd", distance_weight=wd, angle_weight=wa)
    out = rkd(s, t, y, student_features=f_s, teacher_features=f_t)
    e_s64 = f_s.detach().double().requires_grad_(True)
    pooled_s, pooled_t = e_s64.mean((2, 3)), f_t.detach().double().mean((2, 3))
    ref = wd * distance_term64(pooled_s, pooled_t) + wa * angle_term64(pooled_s, pooled_t)
    ref = ref if y is None else ref + ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-5)
    out["loss"].backward()
    ref.backward()
    # Our arithmetic is the reference's: in float64 the gradients agree to rounding, for embeddings at least 1e-3
    # apart. The distances are the official code's expanded squares |a|^2 + |b|^2 - 2<a, b> (clamped at 1e-12),
    # whose rounding (~1e-16) is a relative 1e-16 / d^2 of a squared distance d^2: 3e-8 in a gradient at a teacher
    # pair 7.6e-7 apart (hypothesis: seed=238, batch=5, ds=2, dt=1), where the clamp also raises it to 1e-6.
    if min(_gap(pooled_s), _gap(pooled_t)) >= 1e-3:
        f_s64 = f_s.detach().double().requires_grad_(True)
        out64 = rkd(s64.detach(), t.double(), y, student_features=f_s64, teacher_features=f_t.detach().double())
        out64["loss"].backward()
        torch.testing.assert_close(f_s64.grad, e_s64.grad, rtol=1e-9, atol=1e-12)
    # In float32, near-duplicate embeddings cancel in the pair sums (1-D embeddings 0.003 apart moved a gradient by
    # 0.4 %): the float32 tolerance holds for embeddings at least 0.01 apart.
    if _gap(pooled_s) >= 1e-2:
        torch.testing.assert_close(f_s.grad.double(), e_s64.grad, rtol=1e-3, atol=1e-5 * max(wd + wa, 1))
    assert f_t.grad is None


def test_logits_are_the_embeddings_without_features():
    s, s64, t, y = inputs(3, 5, 6)
    out = ep.create_loss("rkd")(s, t, y)
    ref = 25 * distance_term64(s64, t) + 50 * angle_term64(s64, t) + ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-5)
    out["loss"].backward()
    ref.backward()
    torch.testing.assert_close(s.grad.double(), s64.grad, rtol=1e-3, atol=1e-5)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 100))
def test_invariant_to_scaling_and_rotating_the_teacher(seed, scale):
    g = torch.Generator().manual_seed(seed)
    s, t = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
    rkd = ep.create_loss("rkd", ce_weight=0.0)
    torch.testing.assert_close(rkd(s, t)["loss"], rkd(s, scale * t @ rotation + 3.0)["loss"], rtol=1e-9, atol=1e-12)


def test_coincident_points_and_one_sample_stay_finite():
    s = torch.zeros(4, 3, requires_grad=True)
    out = ep.create_loss("rkd")(s, torch.randn(4, 3))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and torch.isfinite(s.grad).all()
    one = ep.create_loss("rkd")(torch.randn(1, 3), torch.randn(1, 3))
    assert one["distance"] == 0 and one["angle"] == 0


def test_defaults_follow_the_official_code():
    rkd = ep.create_loss("rkd")
    assert (rkd.distance_weight, rkd.angle_weight, rkd.ce_weight, rkd.kd_weight) == (25.0, 50.0, 1.0, 0.0)
    assert rkd.uses_features and not list(rkd.parameters())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"distance_weight": -1}, "distance_weight"),
        ({"angle_weight": float("nan")}, "angle_weight"),
        ({"ce_weight": -1}, "ce_weight"),
        ({"temperature": 0}, "temperature"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("rkd", **kwargs)


def test_bad_features():
    rkd, s = ep.create_loss("rkd"), torch.randn(3, 4)
    with pytest.raises(ValueError, match="student_features"):
        rkd(s, None, None, student_features=torch.randn(3, 2, 2, 2, 2), teacher_features=torch.randn(3, 4))
    with pytest.raises(ValueError, match="batch"):
        rkd(s, None, None, student_features=torch.randn(3, 4), teacher_features=torch.randn(2, 4))
    with pytest.raises(ValueError, match="teacher_features is None"):
        rkd(s, None, None, student_features=torch.randn(3, 4))

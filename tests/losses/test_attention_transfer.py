"""attention_transfer: normalized spatial attention maps (Zagoruyko & Komodakis 2017)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import ce64, inputs


def reference_at(f_s, f_t, p):
    """Q = sum_c |A_c|^p per position, over its l2 norm; squared differences averaged over batch and positions."""

    def attention(a):
        q = (a.double().abs() ** p).sum(1).flatten(1)
        return q / torch.sqrt((q * q).sum(1, keepdim=True))

    return ((attention(f_s) - attention(f_t)) ** 2).sum() / (f_t.shape[0] * f_t.shape[2] * f_t.shape[3])


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cs=st.integers(1, 6),
    ct=st.integers(1, 6),
    size=st.integers(1, 5),
    p=st.sampled_from([1.0, 2.0, 3.0]),
    beta=st.floats(0, 2000),
    pairs=st.integers(1, 2),
    labelled=st.booleans(),
)
def test_value_and_gradient_match_float64_reference(seed, cs, ct, size, p, beta, pairs, labelled):
    g = torch.Generator().manual_seed(seed)
    f_s = [torch.randn(3, cs, size, size, generator=g).requires_grad_(True) for _ in range(pairs)]
    f_t = [torch.randn(3, ct, size, size, generator=g).requires_grad_(True) for _ in range(pairs)]
    s, s64, t, y = inputs(seed, 3, 5)
    y = y if labelled else None
    out = ep.create_loss("attention_transfer", beta=beta, p=p)(s, t, y, student_features=f_s, teacher_features=f_t)
    f_s64 = [f.detach().double().requires_grad_(True) for f in f_s]
    ref = beta * sum(reference_at(a, b.detach(), p) for a, b in zip(f_s64, f_t))
    ref = ref if y is None else ref + ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-5)
    out["loss"].backward()
    ref.backward()
    for a, a64 in zip(f_s, f_s64):
        torch.testing.assert_close(a.grad.double(), a64.grad, rtol=1e-4, atol=1e-6 * max(beta, 1))
    assert all(b.grad is None for b in f_t)


def test_student_maps_are_pooled_to_the_teacher_size():
    f_s, f_t = torch.randn(2, 3, 8, 8), torch.randn(2, 5, 4, 4)
    out = ep.create_loss("attention_transfer", beta=2.0)(
        torch.randn(2, 4), None, None, student_features=f_s, teacher_features=f_t
    )
    q_s = (f_s.double() ** 2).mean(1).reshape(2, 4, 2, 4, 2).mean((2, 4)).flatten(1)
    q_t = (f_t.double() ** 2).mean(1).flatten(1)
    expected = ((q_s / q_s.norm(dim=1, keepdim=True) - q_t / q_t.norm(dim=1, keepdim=True)) ** 2).mean()
    torch.testing.assert_close(out["at"].double(), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out["loss"].double(), 2.0 * expected, rtol=1e-5, atol=1e-7)


def authors_at_loss64(x, y):
    """The authors' per-pair term (szagoruyko/attention-transfer utils.py), written here in float64:
    l2-normalized mean over channels of x^2, squared differences averaged."""

    def at(a):
        q = a.double().pow(2).mean(1).reshape(a.shape[0], -1)
        return q / q.norm(dim=1, keepdim=True)

    return (at(x) - at(y)).pow(2).mean()


def test_the_weighting_is_the_authors_beta_times_the_sum_over_pairs():
    g = torch.Generator().manual_seed(3)
    f_s = [torch.randn(4, c, s, s, generator=g) for c, s in [(3, 8), (5, 4), (7, 2)]]
    f_t = [torch.randn(4, 2 * c, s, s, generator=g) for c, s in [(3, 8), (5, 4), (7, 2)]]
    y = torch.arange(4)
    logits = torch.randn(4, 6, generator=g)
    out = ep.create_loss("attention_transfer")(logits, None, y, student_features=f_s, teacher_features=f_t)
    pairs = [authors_at_loss64(a, b) for a, b in zip(f_s, f_t)]
    expected = 1000.0 * sum(pairs) + torch.nn.functional.cross_entropy(logits.double(), y)
    torch.testing.assert_close(out["at"].double(), sum(pairs), rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(out["loss"].double(), expected, rtol=1e-5, atol=1e-6)


def test_same_attention_gives_zero_whatever_the_channels():
    f_t = torch.randn(2, 4, 3, 3)
    f_s = f_t.repeat(1, 3, 1, 1)  # mean over channels unchanged
    out = ep.create_loss("attention_transfer")(
        torch.randn(2, 4), None, None, student_features=f_s, teacher_features=f_t
    )
    assert out["at"].abs() < 1e-7


def test_without_features_the_loss_is_its_logit_part():
    s, _, t, y = inputs(2, 4, 5)
    out = ep.create_loss("attention_transfer")(s, t, y)
    assert set(out) == {"loss", "ce"}
    with pytest.raises(ValueError, match="nothing to optimize"):
        ep.create_loss("attention_transfer")(s, t)
    assert ep.create_loss("attention_transfer").uses_features and not ep.create_loss("kd").uses_features


def test_tokens_are_refused():
    with pytest.raises(ValueError, match="needs maps"):
        ep.create_loss("attention_transfer")(
            torch.randn(2, 3), None, None, student_features=torch.randn(2, 4, 8), teacher_features=torch.randn(2, 4, 8)
        )


def test_defaults_are_the_papers():
    at = ep.create_loss("attention_transfer")
    assert (at.beta, at.p) == (1000.0, 2.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"beta": -1}, "beta"), ({"p": 0}, "p"), ({"kd_weight": -1}, "kd_weight"), ({"temperature": 0}, "temperature")],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("attention_transfer", **kwargs)

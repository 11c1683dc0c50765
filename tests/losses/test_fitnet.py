"""fitnet: feature hints with a learnable regressor (Romero et al. 2015)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import ce64, inputs


def reference_hint(f_s, f_t, weight, bias):
    """Average-pool the student map by whole blocks, apply the 1x1 regressor, mean squared error."""
    b, c, h, w = f_s.shape
    th, tw = f_t.shape[-2:]
    pooled = f_s.reshape(b, c, th, h // th, tw, w // tw).mean((3, 5))
    regressed = torch.einsum("bchw,oc->bohw", pooled, weight) + bias[None, :, None, None]
    return ((regressed - f_t.double()) ** 2).sum() / f_t.numel()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    cs=st.integers(1, 6),
    ct=st.integers(1, 6),
    size=st.sampled_from([2, 4]),
    factor=st.sampled_from([1, 2]),
    hint_weight=st.floats(0, 3),
    ce_weight=st.floats(0, 2),
)
def test_value_and_gradients_match_float64_reference(seed, cs, ct, size, factor, hint_weight, ce_weight):
    g = torch.Generator().manual_seed(seed)
    f_s = torch.randn(3, cs, size * factor, size * factor, generator=g).requires_grad_(True)
    f_t = torch.randn(3, ct, size, size, generator=g).requires_grad_(True)
    s, s64, t, y = inputs(seed, 3, 5)
    loss = ep.create_loss(
        "fitnet", hint_weight=hint_weight, ce_weight=ce_weight, student_channels=cs, teacher_channels=ct
    )
    out = loss(s, t, y, student_features=f_s, teacher_features=f_t)
    regressor = loss.regressors["0"]
    if cs == ct:
        assert isinstance(regressor, torch.nn.Identity) and not list(loss.parameters())
        weight, bias = torch.eye(cs, dtype=torch.float64), torch.zeros(cs, dtype=torch.float64)
    else:
        weight, bias = (p.detach().double().requires_grad_(True) for p in (regressor.weight, regressor.bias))
    f_s64 = f_s.detach().double().requires_grad_(True)
    ref = hint_weight * reference_hint(f_s64, f_t.detach(), weight, bias) + ce_weight * ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-5)
    out["loss"].backward()
    ref.backward()
    torch.testing.assert_close(f_s.grad.double(), f_s64.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(s.grad.double(), s64.grad, rtol=1e-4, atol=1e-6)
    if cs != ct:
        torch.testing.assert_close(regressor.weight.grad.double(), weight.grad, rtol=1e-4, atol=1e-6)
    assert f_t.grad is None


def test_regressor_is_learnable_and_reduces_the_hint():
    torch.manual_seed(0)
    loss = ep.create_loss("fitnet", student_channels=4, teacher_channels=8)
    params = list(loss.parameters())
    assert [p.shape for p in params] == [torch.Size([8, 4]), torch.Size([8])]
    f_s, f_t = torch.randn(4, 4, 3, 3), torch.randn(4, 8, 3, 3)
    first = None
    for _ in range(30):
        out = loss(
            torch.randn(4, 5), None, torch.zeros(4, dtype=torch.long), student_features=f_s, teacher_features=f_t
        )
        out["hint"].backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
        with torch.no_grad():
            for p in params:
                p -= 0.5 * p.grad
                p.grad = None
        first = out["hint"].item() if first is None else first
    assert out["hint"].item() < 0.8 * first


def test_token_features_use_a_linear_regressor_and_lists_of_pairs_sum():
    loss = ep.create_loss("fitnet", ce_weight=0.0, student_channels=[6, 3], teacher_channels=[10, 3])
    tokens_s, tokens_t = torch.randn(2, 5, 6), torch.randn(2, 5, 10)
    pooled_s, pooled_t = torch.randn(2, 3), torch.randn(2, 3)
    s, t, y = torch.randn(2, 4), torch.randn(2, 4), torch.tensor([0, 1])
    both = loss(s, t, y, student_features=[tokens_s, pooled_s], teacher_features=[tokens_t, pooled_t])
    linear = loss.regressors["0"]
    expected_tokens = torch.nn.functional.mse_loss(tokens_s @ linear.weight.T + linear.bias, tokens_t)
    torch.testing.assert_close(both["hint"], expected_tokens + torch.nn.functional.mse_loss(pooled_s, pooled_t))


def test_regressors_are_created_on_first_call_without_widths():
    loss = ep.create_loss("fitnet")
    assert not list(loss.parameters())
    loss(
        torch.randn(2, 3),
        None,
        None,
        student_features=torch.randn(2, 4, 2, 2),
        teacher_features=torch.randn(2, 6, 2, 2),
    )
    assert [p.shape for p in loss.parameters()] == [torch.Size([6, 4]), torch.Size([6])]


def test_without_features_the_loss_is_its_logit_part():
    s, _, t, y = inputs(1, 4, 5)
    out = ep.create_loss("fitnet", kd_weight=0.5)(s, t, y)
    kd = ep.create_loss("kd", temperature=4.0)(s, t)["kd"]
    assert set(out) == {"loss", "ce", "kd"}
    torch.testing.assert_close(out["loss"], out["ce"] + 0.5 * kd)
    with pytest.raises(ValueError, match="nothing to optimize"):
        ep.create_loss("fitnet")(s, t)


@pytest.mark.parametrize(
    "student, teacher, match",
    [
        (torch.randn(2, 4, 2, 2), None, "teacher_features is None"),
        (torch.randn(2, 4, 2, 2), torch.randn(2, 4, 2), "must both be"),
        (torch.randn(2, 3, 4), torch.randn(2, 5, 4), "token counts"),
        ([torch.randn(2, 4)], [torch.randn(2, 4)] * 2, "pair up"),
        (torch.randn(2, 5, 2, 2), torch.randn(2, 6, 2, 2), "regressor maps 4 -> 6"),
    ],
)
def test_bad_features(student, teacher, match):
    loss = ep.create_loss("fitnet", student_channels=4, teacher_channels=6)
    with pytest.raises(ValueError, match=match):
        loss(torch.randn(2, 3), None, torch.tensor([0, 1]), student_features=student, teacher_features=teacher)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hint_weight": -1}, "hint_weight"),
        ({"ce_weight": -1}, "ce_weight"),
        ({"student_channels": 4}, "together"),
        ({"student_channels": [4, 0], "teacher_channels": [4, 4]}, "positive ints"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("fitnet", **kwargs)


def test_half_precision_features_compute_in_float32():
    loss = ep.create_loss("fitnet", student_channels=4, teacher_channels=6)
    f_s = (torch.randn(2, 4, 4, 4) * 100).to(torch.bfloat16).requires_grad_(True)
    f_t = (torch.randn(2, 6, 2, 2) * 100).half()
    out = loss(torch.randn(2, 3).half(), None, torch.tensor([0, 1]), student_features=f_s, teacher_features=f_t)
    out["loss"].backward()
    assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"]) and torch.isfinite(f_s.grad.float()).all()
    expected = loss(torch.randn(2, 3), None, None, student_features=f_s.detach().float(), teacher_features=f_t.float())[
        "hint"
    ]
    torch.testing.assert_close(out["hint"], expected)


def test_hint_stays_float32_under_autocast():
    loss = ep.create_loss("fitnet", student_channels=4, teacher_channels=6)
    f_s, f_t = torch.randn(2, 4, 3, 3), torch.randn(2, 6, 3, 3)
    expected = loss(torch.randn(2, 3), None, None, student_features=f_s, teacher_features=f_t)["hint"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss(torch.randn(2, 3), None, None, student_features=f_s, teacher_features=f_t)["hint"]
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)

"""What every built-in distillation loss shares: class mapping between heads of different sizes,
half-precision inputs, extreme logits, detached teachers, untouched inputs."""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep

#: Every built-in loss, with the arguments that make its logit part non-empty without features.
LOSSES = {
    "kd": {},
    "soft_target_ce": {},
    "dkd": {},
    "dist": {},
    "logit_std_kd": {},
    "mse_logits": {"alpha": 0.5},
    "fitnet": {"kd_weight": 1.0},
    "attention_transfer": {"kd_weight": 1.0},
    "rkd": {},
    "pkt": {},
    "sp": {"kd_weight": 1.0},
    "crd": {"kd_weight": 1.0},
    "nkd": {},
    "ctkd": {},
    "review_kd": {"kd_weight": 1.0},
}


def test_every_builtin_loss_is_covered():
    builtins = {n for n in ep.list_losses() if ep.component_info("losses", n)["distribution"] == "effl-plugins"}
    assert builtins == set(LOSSES)


def _batch(seed=0, batch=6, classes=10, teacher_classes=100):
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(batch, classes, generator=g) * 3).requires_grad_(True)
    t = (torch.randn(batch, teacher_classes, generator=g) * 3).requires_grad_(True)
    return s, t, torch.randint(0, classes, (batch,), generator=g)


@pytest.mark.parametrize("name", LOSSES)
def test_teacher_classes_select_the_mapped_teacher_logits(name):
    s, t, y = _batch()
    mapping = torch.randperm(100, generator=torch.Generator().manual_seed(1))[:10]
    mapped = ep.create_loss(name, teacher_classes=mapping, **LOSSES[name])(s, t, y)
    mapped["loss"].backward()
    grad, s.grad = s.grad, None
    plain = ep.create_loss(name, **LOSSES[name])(s, t.detach()[:, mapping], y)
    plain["loss"].backward()
    assert set(mapped) == set(plain)
    for key in plain:
        torch.testing.assert_close(mapped[key], plain[key])
    torch.testing.assert_close(grad, s.grad)
    assert t.grad is None
    as_list = ep.create_loss(name, teacher_classes=mapping.tolist(), **LOSSES[name])(s, t, y)
    torch.testing.assert_close(as_list["loss"], plain["loss"])


@pytest.mark.parametrize("name", LOSSES)
def test_heads_of_different_sizes_need_a_mapping(name):
    s, t, y = _batch()
    loss = ep.create_loss(name, **LOSSES[name])
    with pytest.raises(ValueError, match="teacher_classes"):
        loss(s, t, y)
    with pytest.raises(ValueError, match="teacher_classes has 9 entries"):
        ep.create_loss(name, teacher_classes=list(range(9)), **LOSSES[name])(s, t, y)
    with pytest.raises(ValueError, match="out of range"):
        ep.create_loss(name, teacher_classes=list(range(95, 105)), **LOSSES[name])(s, t, y)


@pytest.mark.parametrize("mapping", [[0.5, 1.0], [[0, 1]], [], [-1, 2], "abc"])
def test_bad_mappings_are_refused_at_construction(mapping):
    with pytest.raises(ValueError, match="teacher_classes"):
        ep.create_loss("kd", teacher_classes=mapping)


def test_mapping_is_a_device_following_buffer_outside_the_state_dict():
    loss = ep.create_loss("kd", teacher_classes=[3, 1, 2]).to(torch.float64)
    assert loss.teacher_classes.dtype == torch.long and "teacher_classes" not in loss.state_dict()
    assert "teacher_classes" in dict(loss.named_buffers())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", LOSSES)
def test_half_precision_inputs_compute_in_float32(name, dtype):
    s, t, y = _batch(classes=8, teacher_classes=8)
    s_half = (s.detach() * 5).to(dtype).requires_grad_(True)
    t_half = (t.detach() * 5).to(dtype)
    loss = ep.create_loss(name, **LOSSES[name])
    out = loss(s_half, t_half, y)
    out["loss"].backward()
    assert out["loss"].dtype == torch.float32 and s_half.grad.dtype == dtype
    assert torch.isfinite(s_half.grad.float()).all()
    upcast = loss(s_half.detach().float(), t_half.float(), y)
    for key in upcast:
        torch.testing.assert_close(out[key], upcast[key])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("name", LOSSES)
def test_extreme_logits_stay_finite(name, dtype):
    row = torch.tensor([1e4, -1e4, 0.0, 5e3, -5e3, 1e4])
    t = torch.stack([row, row.roll(1), row.roll(2), -row]).to(dtype)
    s = t.flip(-1).clone().requires_grad_(True)  # confidently wrong student
    out = ep.create_loss(name, **LOSSES[name])(s, t, torch.tensor([0, 1, 2, 3]))
    out["loss"].backward()
    assert all(torch.isfinite(v) for v in out.values()), out
    assert torch.isfinite(s.grad.float()).all()


@pytest.mark.parametrize("name", LOSSES)
def test_inputs_untouched_and_teacher_detached(name):
    s, t, y = _batch(classes=7, teacher_classes=7)
    s0, t0, y0 = s.detach().clone(), t.detach().clone(), y.clone()
    out = ep.create_loss(name, **LOSSES[name])(s, t, y)
    out["loss"].backward()
    assert t.grad is None and s.grad is not None and s.grad.abs().sum() > 0
    assert torch.equal(s.detach(), s0) and torch.equal(t.detach(), t0) and torch.equal(y, y0)

"""review_kd: attention-based fusion and the hierarchical context loss (Chen et al. 2021) against float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.losses.review_kd import hierarchical_context_loss

from ._reference import ce64, inputs


def nearest64(x, size):
    """Nearest resize: output pixel i reads input pixel floor(i * h / H)."""
    rows = (torch.arange(size[0]) * x.shape[2]) // size[0]
    cols = (torch.arange(size[1]) * x.shape[3]) // size[1]
    return x[:, :, rows][:, :, :, cols]


def batch_norm64(x, bn):
    mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight.double()[:, None, None] + bn.bias.double()[:, None, None]


def pool64(x, size):
    b, c, h, w = x.shape
    return x.reshape(b, c, size, h // size, size, w // size).mean((3, 5))


def hcl64(y, t):
    """(mse + sum_n 2^-n mse(pool_l)) / (1 + sum_n 2^-n) over the pooled sizes l in 4, 2, 1 below H."""
    sizes = [size for size in (4, 2, 1) if size < y.shape[2]]
    weights = [0.5 ** (n + 1) for n in range(len(sizes))]
    total = ((y - t) ** 2).mean() + sum(w * ((pool64(y, s) - pool64(t, s)) ** 2).mean() for w, s in zip(weights, sizes))
    return total / (1 + sum(weights))


def review64(loss, students, teachers):
    """Deepest level first: x = BN(conv1x1 f); fuse with the deeper x by two sigmoid maps; resize to the teacher's
    size; y = BN(conv3x3 x); HCL(y, teacher) summed over levels."""
    residual, total = None, 0.0
    for s, t, fusion in reversed(list(zip(students, teachers, loss.fusions))):
        x = batch_norm64(F.conv2d(s.double(), fusion.reduce[0].weight.double()), fusion.reduce[1])
        if residual is not None:
            residual = nearest64(residual, x.shape[-2:])
            conv = fusion.attention[0]
            a = torch.sigmoid(F.conv2d(torch.cat([x, residual], 1), conv.weight.double(), conv.bias.double()))
            x = x * a[:, :1] + residual * a[:, 1:]
        x = nearest64(x, t.shape[-2:])
        y = batch_norm64(F.conv2d(x, fusion.output[0].weight.double(), padding=1), fusion.output[1])
        residual, total = x, total + hcl64(y, t.double())
    return total


def test_hierarchical_context_loss_by_hand():
    t = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    shift = torch.full_like(t, 0.5)  # every pooled difference is 0.5 too: HCL = 0.25
    assert hierarchical_context_loss(shift, t).item() == pytest.approx(0.25, rel=1e-12)
    board = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1.0  # +-1, zero mean in every 2x2
    assert hierarchical_context_loss(board.expand_as(t).double(), t).item() == pytest.approx(1 / 1.875, rel=1e-12)
    one = torch.full((1, 1, 1, 1), 3.0, dtype=torch.float64)
    assert hierarchical_context_loss(one, 0 * one).item() == 9.0  # 1x1: no pooled levels


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(2, 3), labelled=st.booleans(), weight=st.floats(0, 2))
def test_value_and_gradient_match_float64_reference(seed, batch, labelled, weight):
    g = torch.Generator().manual_seed(seed)
    students = [torch.randn(batch, c, h, h, generator=g).requires_grad_(True) for c, h in ((3, 4), (5, 2), (6, 1))]
    teachers = [torch.randn(batch, c, h, h, generator=g).requires_grad_(True) for c, h in ((4, 8), (7, 4), (8, 2))]
    s, s64, t, y = inputs(seed, batch, 4)
    y = y if labelled else None
    torch.manual_seed(seed)
    loss = ep.create_loss("review_kd", feature_levels=3, review_weight=weight, mid_channels=4)
    out = loss(s, t, y, student_features=students, teacher_features=teachers)
    students64 = [f.detach().double().requires_grad_(True) for f in students]
    ref = weight * review64(loss, students64, [f.detach() for f in teachers])
    ref = ref if y is None else ref + ce64(s64, y)
    torch.testing.assert_close(out["loss"].double(), ref, rtol=1e-4, atol=1e-5)
    out["loss"].backward()
    ref.backward()
    for f, f64 in zip(students, students64):
        torch.testing.assert_close(f.grad.double(), f64.grad, rtol=1e-3, atol=1e-5)
    assert all(f.grad is None for f in teachers)


def _maps(batch=2):
    students = [torch.randn(batch, 3, 4, 4), torch.randn(batch, 5, 2, 2)]
    return students, [torch.randn(batch, 4, 4, 4), torch.randn(batch, 6, 2, 2)]


def test_fusions_are_built_from_channels_or_on_the_first_call():
    eager = ep.create_loss("review_kd", feature_levels=2, student_channels=[3, 5], teacher_channels=[4, 6])
    lazy = ep.create_loss("review_kd", feature_levels=2)
    assert len(list(eager.parameters())) > 0 and not list(lazy.parameters())
    students, teachers = _maps()
    lazy(torch.randn(2, 3), None, None, student_features=students, teacher_features=teachers)
    assert [p.shape for p in lazy.parameters()] == [p.shape for p in eager.parameters()]
    assert eager.fusions[0].reduce[0].out_channels == 5  # min(512, deepest student width)
    assert eager.fusions[-1].attention is None and eager.fusions[0].attention is not None
    assert ep.create_loss("review_kd").feature_levels == 4 and eager.feature_levels == 2 and eager.uses_features


def test_every_student_level_and_fusion_learns():
    students, teachers = _maps()
    students = [f.requires_grad_(True) for f in students]
    loss = ep.create_loss("review_kd", feature_levels=2)
    loss(torch.randn(2, 3), None, None, student_features=students, teacher_features=teachers)["loss"].backward()
    assert all(f.grad.abs().sum() > 0 for f in students)
    assert all(p.grad is not None for p in loss.parameters())


def test_wrong_levels_and_widths_are_refused():
    students, teachers = _maps()
    with pytest.raises(ValueError, match="3 pairs of maps"):
        ep.create_loss("review_kd", feature_levels=3)(
            torch.randn(2, 3), None, None, student_features=students, teacher_features=teachers
        )
    loss = ep.create_loss("review_kd", feature_levels=2, student_channels=[3, 5], teacher_channels=[4, 7])
    with pytest.raises(ValueError, match="level 1: widths"):
        loss(torch.randn(2, 3), None, None, student_features=students, teacher_features=teachers)
    with pytest.raises(ValueError, match="maps"):
        ep.create_loss("review_kd", feature_levels=1)(
            torch.randn(2, 3), None, None, student_features=[torch.randn(2, 4)], teacher_features=[torch.randn(2, 4)]
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"feature_levels": 0}, "feature_levels"),
        ({"review_weight": -1}, "review_weight"),
        ({"mid_channels": 0}, "mid_channels"),
        ({"student_channels": [3, 5]}, "together"),
        ({"student_channels": [3], "teacher_channels": [4]}, "4 positive ints"),
    ],
)
def test_bad_hyper_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_loss("review_kd", **kwargs)

"""The device path of rand_augment / trivial_augment (images on an accelerator; forced here on the CPU) equals the
op-by-op reference (bit for bit on uint8, to one rounding on float), and its number of tensor ops per call
is a constant per slot, whatever the op set.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.profiler import ProfilerActivity, profile

import effl_plugins as ep
from effl_plugins.augment.auto.op_space import RAND_AUGMENT_OPS

#: ops that only re-describe memory (no kernel on a device)
VIEW_OPS = frozenset(
    {
        "aten::view",
        "aten::select",
        "aten::slice",
        "aten::reshape",
        "aten::expand",
        "aten::unsqueeze",
        "aten::squeeze",
        "aten::transpose",
        "aten::unbind",
        "aten::detach_",
        "aten::detach",
        "aten::lift_fresh",
        "aten::alias",
        "aten::as_strided",
        "aten::t",
        "aten::permute",
        "aten::_unsafe_view",
        "aten::empty",
    }
)


def _assert_same(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Bit for bit on uint8; on float to one rounding (a multiply-add may or may not be fused, by memory layout)."""
    if got.dtype == torch.uint8:
        assert torch.equal(got, expected)
    else:
        torch.testing.assert_close(got, expected, rtol=0, atol=4 * torch.finfo(got.dtype).eps)


def _paths(aug, x, generator=None, params=None):
    y, _ = aug(x, generator=generator, params=params)
    ops, magnitude, sign = aug._checked(aug.last_params, len(x))
    return aug._apply_device_path(x, ops, magnitude, sign), aug._apply_op_by_op(x, ops, magnitude, sign), y


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    num_ops=st.integers(1, 4),
    magnitude=st.integers(0, 30),
    std=st.sampled_from([0.0, 3.0, math.inf]),
    interpolation=st.sampled_from(["nearest", "bilinear"]),
    fill=st.sampled_from([0, 128.0, (10, 200, 30)]),
    channels=st.sampled_from([1, 3]),
    dtype=st.sampled_from(["uint8", "float32", "float64"]),
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    narrow=st.booleans(),
)
def test_device_path_equals_op_by_op(
    seed, num_ops, magnitude, std, interpolation, fill, channels, dtype, height, width, narrow
):
    if channels == 1 and isinstance(fill, tuple):
        fill = 7
    if dtype != "uint8" and not isinstance(fill, tuple):
        fill = fill / 255
    elif dtype != "uint8":
        fill = tuple(v / 255 for v in fill)
    aug = ep.create_augmentation(
        "rand_augment", num_ops=num_ops, magnitude=magnitude, magnitude_std=std, interpolation=interpolation, fill=fill
    )
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (10, channels, height, width), dtype=torch.uint8, generator=g)
    if narrow:  # narrow ranges make auto_contrast and equalize do real work
        x = x // 8 + 90
    if dtype != "uint8":
        x = x.to(getattr(torch, dtype)) / 255
    original = x.clone()
    got, expected, called = _paths(aug, x, g)
    _assert_same(got, expected)
    assert got.dtype == x.dtype and got.shape == x.shape
    assert torch.equal(x, original)
    assert torch.equal(called, expected)  # on the CPU a call takes the table chain (uint8) or the op-by-op path (float)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("first", RAND_AUGMENT_OPS)
def test_every_op_pair_in_both_orders(first, dtype):
    aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=17, interpolation="bilinear")
    rows = [[first, second] for second in RAND_AUGMENT_OPS] + [[second, first] for second in RAND_AUGMENT_OPS]
    ops = torch.tensor([[aug.op_names.index(n) for n in row] for row in rows])
    sign = torch.where(torch.arange(len(rows)) % 2 == 0, 1.0, -1.0)[:, None].expand_as(ops).contiguous()
    params = {"ops": ops, "magnitude": torch.rand(ops.shape, generator=torch.Generator().manual_seed(1)), "sign": sign}
    x = torch.randint(40, 200, (len(rows), 3, 15, 19), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    x = x if dtype == torch.uint8 else x.to(dtype) / 255
    got, expected, _ = _paths(aug, x, params=params)
    _assert_same(got, expected)


@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_trivial_augment_device_path_equals_op_by_op(wide, dtype):
    aug = ep.create_augmentation("trivial_augment", wide=wide)
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (96, 3, 17, 13), dtype=torch.uint8, generator=g)
    x = x if dtype == torch.uint8 else x.to(dtype) / 255
    got, expected, _ = _paths(aug, x, g)
    _assert_same(got, expected)


def _launches(run) -> int:
    """Top-level aten ops of one call that are not views: each would be a kernel launch on a device."""
    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return sum(
        1 for e in prof.events() if e.cpu_parent is None and e.name.startswith("aten::") and e.name not in VIEW_OPS
    )


def _count(num_ops: int, ops=None, op_by_op: bool = False) -> int:
    """Launches of one device-path call (or of the op-by-op path) at N = ``num_ops`` on 16 float images; the
    count does not depend on the image size (above 2x2), so the images are small."""
    aug = ep.create_augmentation("rand_augment", num_ops=num_ops, magnitude=9, ops=ops)
    x = torch.rand(16, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    aug(x, generator=torch.Generator().manual_seed(1))
    checked = aug._checked(aug.last_params, len(x))
    path = aug._apply_op_by_op if op_by_op else aug._apply_device_path
    return _launches(lambda: path(x, *checked))


def test_op_count_is_a_constant_per_slot_whatever_the_op_set():
    counts = {n: _count(n) for n in (1, 2, 4)}
    per_slot = counts[2] - counts[1]
    assert counts[4] - counts[2] == 2 * per_slot
    # measured: 247 + 79 per slot (326 at N=2, 484 at N=4), each point op by its own kernel; op by op on an
    # accelerator (each op on the whole batch, then torch.where): 1,006 at N=2 and 1,954 at N=4
    assert per_slot <= 80 and counts[2] <= 330 and counts[4] <= 490, counts
    assert _count(2, ops=["identity", "rotate", "equalize"]) == counts[2]
    # op by op on the CPU (each op on its choosers only): 820 at N=2 and 1,695 at N=4
    assert 2 * counts[2] < _count(2, op_by_op=True) and 3 * counts[4] < _count(4, op_by_op=True)


@pytest.mark.parametrize("magnitude", [0.0, 1.0])
def test_float64_samples_without_geometry_are_not_warped(magnitude):
    """The bilinear blend runs in float32: a float64 sample is warped only when it drew a geometric op, even at
    magnitude 0 (as the reference does)."""
    aug = ep.create_augmentation("rand_augment", num_ops=1, interpolation="bilinear")
    x = torch.rand(14, 3, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    params = {"ops": torch.arange(14)[:, None], "magnitude": torch.full((14, 1), magnitude), "sign": torch.ones(14, 1)}
    got, expected, _ = _paths(aug, x, params=params)
    assert torch.equal(got, expected)
    assert torch.equal(got[0], x[0])  # identity, in full float64 precision

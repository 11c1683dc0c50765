"""Fused uint8 kernels: LUT chains and the one-launch warp, torch path and Triton (TRITON_INTERPRET=1) against the
reference ops."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins._triton import triton_available
from effl_plugins.augment.functional import warp
from effl_plugins.augment.fused import apply_lut, compose_luts, identity_luts, point_op_lut, warp_affine_fused

POINT_OPS = [
    name for name in ("brightness", "solarize", "posterize", "invert") if name in ep.list_augmentations(backend="batch")
]


def images(seed: int, batch=3, channels=3, height=9, width=13) -> torch.Tensor:
    return torch.randint(
        0, 256, (batch, channels, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


def rotations(batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    angle, shift = torch.rand(batch, generator=g) * 6.3, torch.randn(batch, 2, generator=g) * 2
    m = torch.zeros(batch, 3, 3)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
    m[:, :2, 2], m[:, 2, 2] = shift, 1
    return m


@pytest.mark.parametrize("name", POINT_OPS)
def test_point_op_lut_reproduces_the_op(name):
    x = images(1)
    aug = ep.create_augmentation(name)
    expected, _ = aug(x, generator=torch.Generator().manual_seed(3))
    lut = point_op_lut(aug, aug.last_params, *x.shape[:2])
    assert torch.equal(apply_lut(x, lut), expected)


@pytest.mark.skipif(len(POINT_OPS) < 2, reason="needs two registered point ops")
def test_a_chain_of_point_ops_is_one_composed_table():
    x = images(2)
    first, second = (ep.create_augmentation(n) for n in POINT_OPS[:2])
    mid, _ = first(x, generator=torch.Generator().manual_seed(0))
    expected, _ = second(mid, generator=torch.Generator().manual_seed(1))
    chain = compose_luts(point_op_lut(first, first.last_params, 3, 3), point_op_lut(second, second.last_params, 3, 3))
    assert torch.equal(apply_lut(x, chain), expected)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 4), channels=st.sampled_from([1, 3]))
def test_apply_lut_is_the_per_sample_per_channel_table(seed, batch, channels):
    x = images(seed, batch, channels)
    lut = torch.randint(
        0, 256, (batch, channels, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed + 1)
    )
    x0 = x.clone()
    out = apply_lut(x, lut)
    b, c, i, j = (torch.randint(0, n, (1,)).item() for n in (batch, channels, x.shape[2], x.shape[3]))
    assert out[b, c, i, j] == lut[b, c, x[b, c, i, j].long()]
    assert torch.equal(x, x0)
    assert torch.equal(apply_lut(x, identity_luts(batch, channels)), x)


def test_bad_tables_and_backends_are_rejected_by_name():
    x = images(0)
    with pytest.raises(ValueError, match="luts"):
        apply_lut(x, torch.zeros(3, 3, 255, dtype=torch.uint8))
    with pytest.raises(ValueError, match="images"):
        apply_lut(x.float(), identity_luts(3, 3))
    with pytest.raises(ValueError, match="backend"):
        apply_lut(x, identity_luts(3, 3), backend="cuda")
    with pytest.raises(ValueError, match="matrices"):
        warp_affine_fused(x, torch.eye(3).expand(2, 3, 3))


def test_warp_torch_path_is_the_reference_warp():
    x, m = images(5), rotations(3, 5)
    assert torch.equal(warp_affine_fused(x, m, "bilinear", fill=9), warp.warp_affine(x, m, "bilinear", fill=9))


TRITON_SCRIPT = """
import sys, torch
from effl_plugins.augment.fused import apply_lut, warp_affine_fused
x, lut, m = torch.load(sys.argv[1])
out = {"lut": apply_lut(x, lut, backend="triton")}
for interpolation in ("nearest", "bilinear"):
    out[interpolation] = warp_affine_fused(x, m, interpolation, fill=(7, 8, 9), backend="triton")
out["resized"] = warp_affine_fused(x, m, "bilinear", size=(5, 17), backend="triton")
torch.save(out, sys.argv[2])
"""


@pytest.fixture(scope="module")
def triton_case(tmp_path_factory):
    """Inputs and Triton outputs, computed in a fresh interpreter (TRITON_INTERPRET must precede the triton import)."""
    if not triton_available():
        pytest.skip("triton does not import here")
    folder = tmp_path_factory.mktemp("fused")
    x, m = images(7, batch=3, channels=3, height=10, width=14), rotations(3, 7)
    lut = torch.randint(0, 256, (3, 3, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(8))
    torch.save((x, lut, m), folder / "in.pt")
    proc = subprocess.run(
        [sys.executable, "-c", TRITON_SCRIPT, str(folder / "in.pt"), str(folder / "out.pt")],
        env=dict(os.environ, TRITON_INTERPRET="1"),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return x, lut, m, torch.load(folder / "out.pt")


def test_triton_lut_kernel_equals_torch_gather(triton_case):
    x, lut, _, out = triton_case
    assert torch.equal(out["lut"], apply_lut(x, lut, backend="torch"))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_triton_warp_kernel_equals_reference_warp(triton_case, interpolation):
    x, _, m, out = triton_case
    assert torch.equal(out[interpolation], warp.warp_affine(x, m, interpolation, fill=(7, 8, 9)))


def test_triton_warp_kernel_resizes_like_reference(triton_case):
    x, _, m, out = triton_case
    assert torch.equal(out["resized"], warp.warp_affine(x, m, "bilinear", size=(5, 17)))


@pytest.mark.parametrize("shape", [(3, 3, 33, 40), (1, 1, 64, 64), (5, 3, 40, 33)])
def test_apply_lut_translates_large_cpu_planes_as_the_gather_does(shape):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    luts = torch.randint(0, 256, (shape[0], shape[1], 256), dtype=torch.uint8, generator=g)
    original = x.clone()
    expected = torch.gather(luts, 2, x.reshape(shape[0], shape[1], -1).long()).view_as(x)
    assert torch.equal(apply_lut(x, luts), expected)
    assert torch.equal(
        apply_lut(x, luts[:1]),
        torch.gather(luts[:1].expand_as(luts), 2, x.reshape(shape[0], shape[1], -1).long()).view_as(x),
    )
    assert torch.equal(x, original)

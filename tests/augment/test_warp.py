"""The batched affine warp and the matrix builders: exact where the math is exact, OpenCV-close elsewhere."""

from __future__ import annotations

import doctest

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from effl_plugins.augment.functional import matrices
from effl_plugins.augment.functional.warp import invert_affine, warp_affine, warp_affine_image
from effl_plugins.testing import sample_batch


def psnr(a, b) -> float:
    mse = float(((torch.as_tensor(a).double() - torch.as_tensor(b).double()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def bilinear_reference(image: np.ndarray, matrix: np.ndarray, fill: float) -> np.ndarray:
    """float64 bilinear warp of one ``[C, H, W]`` image, straight from the definition."""
    channels, height, width = image.shape
    inverse = np.linalg.inv(np.vstack([matrix[:2], [0, 0, 1]]))
    out = np.zeros_like(image, dtype=np.float64)
    padded = np.pad(image.astype(np.float64), ((0, 0), (1, 2), (1, 2)), constant_values=fill)
    for y in range(height):
        for x in range(width):
            sx, sy, _ = inverse @ [x, y, 1]
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            wx, wy = sx - x0, sy - y0

            def at(xx, yy):
                return (
                    padded[:, yy + 1, xx + 1] if -1 <= xx <= width and -1 <= yy <= height else np.full(channels, fill)
                )

            out[:, y, x] = (1 - wy) * ((1 - wx) * at(x0, y0) + wx * at(x0 + 1, y0)) + wy * (
                (1 - wx) * at(x0, y0 + 1) + wx * at(x0 + 1, y0 + 1)
            )
    return out


def test_rotation_is_exact_for_quarter_turns():
    r = matrices.rotation(torch.tensor([0.0, 90.0, 180.0, 270.0, -90.0, 450.0]))
    expected = torch.tensor(
        [[1, 0, 0, 1], [0, 1, -1, 0], [-1, 0, 0, -1], [0, -1, 1, 0], [0, -1, 1, 0], [0, 1, -1, 0]], dtype=torch.float32
    )
    assert torch.equal(r[:, :2, :2].reshape(6, 4), expected)


def test_rotation_matches_float64_for_any_angle():
    angles = torch.tensor([12.5, -33.0, 181.0])
    r = matrices.rotation(angles)
    rad = np.deg2rad(angles.double().numpy())
    np.testing.assert_allclose(r[:, 0, 0].numpy(), np.cos(rad), atol=1e-6)
    np.testing.assert_allclose(r[:, 0, 1].numpy(), np.sin(rad), atol=1e-6)  # counter-clockwise on screen (y down)


@settings(max_examples=40, deadline=None)
@given(points=st.lists(st.floats(-50, 50), min_size=12, max_size=12))
def test_affine_from_points_matches_getaffinetransform(points):
    src = np.array(points[:6], dtype=np.float32).reshape(3, 2)
    dst = np.array(points[6:], dtype=np.float32).reshape(3, 2)
    (ax, ay), (bx, by) = src[1] - src[0], src[2] - src[0]
    area = abs(float(ax) * float(by) - float(ay) * float(bx))
    if area < 50:  # nearly collinear: no well-conditioned map
        return
    ours = matrices.affine_from_points(torch.from_numpy(src), torch.from_numpy(dst))[0]
    np.testing.assert_allclose(ours[:2].numpy(), cv2.getAffineTransform(src, dst), rtol=1e-4, atol=1e-3)
    mapped = (
        ours.double() @ torch.cat([torch.from_numpy(src).double(), torch.ones(3, 1, dtype=torch.float64)], 1).T
    ).T[:, :2]
    np.testing.assert_allclose(mapped.numpy(), dst, atol=1e-3)


def test_invert_affine_is_the_inverse():
    m = matrices.about(
        matrices.rotation(torch.tensor([20.0, -75.0]))
        @ matrices.shear(torch.tensor([0.2, 0.0]), torch.tensor([0.0, -0.1])),
        3.5,
        7.5,
    )
    inverse = torch.cat([invert_affine(m), torch.tensor([[[0.0, 0.0, 1.0]]]).expand(2, 1, 3)], 1)
    torch.testing.assert_close(inverse @ m, torch.eye(3).expand(2, 3, 3), atol=1e-6, rtol=0)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_identity_warp_is_an_exact_copy(interpolation, dtype):
    x = sample_batch(dtype, batch=3, size=10)
    y = warp_affine(x, matrices.identity(3), interpolation)
    assert y.dtype == dtype and torch.equal(x, y) and y.data_ptr() != x.data_ptr()


@settings(max_examples=40, deadline=None)
@given(tx=st.integers(-12, 12), ty=st.integers(-12, 12), fill=st.integers(0, 255), seed=st.integers(0, 1000))
def test_integer_translation_with_nearest_is_a_shifted_slice(tx, ty, fill, seed):
    x = sample_batch(torch.uint8, batch=2, size=9, seed=seed)
    y = warp_affine(
        x, matrices.translation(torch.tensor([float(tx)] * 2), torch.tensor([float(ty)] * 2)), "nearest", fill
    )
    expected = torch.full_like(x, fill)
    h, w = x.shape[-2:]
    if abs(tx) < w and abs(ty) < h:
        expected[..., max(ty, 0) : h + min(ty, 0), max(tx, 0) : w + min(tx, 0)] = x[
            ..., max(-ty, 0) : h - max(ty, 0), max(-tx, 0) : w - max(tx, 0)
        ]
    assert torch.equal(y, expected)


def test_bilinear_matches_a_float64_reference():
    x = sample_batch(torch.float32, batch=2, size=8, seed=3)
    m = matrices.about(
        matrices.rotation(torch.tensor([17.0, -61.0])) @ matrices.scaling(torch.tensor([1.3, 0.8])), 3.5, 3.5
    )
    y = warp_affine(x, m, "bilinear", fill=0.25)
    for i in range(2):
        np.testing.assert_allclose(y[i].numpy(), bilinear_reference(x[i].numpy(), m[i].numpy(), 0.25), atol=2e-5)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_warp_matches_cv2_warpaffine(interpolation):
    x = sample_batch(torch.uint8, batch=4, size=32, seed=5)
    m = matrices.about(
        matrices.rotation(torch.tensor([10.0, 33.0, -47.0, 120.0]))
        @ matrices.shear(torch.tensor([0.1, 0.0, -0.2, 0.3]), torch.zeros(4)),
        15.5,
        15.5,
    )
    y = warp_affine(x, m, interpolation, fill=(10, 20, 30))
    for i in range(4):
        ref = warp_affine_image(x[i].permute(1, 2, 0).numpy().copy(), m[i].numpy(), interpolation, (10.0, 20.0, 30.0))
        ref = torch.from_numpy(ref).permute(2, 0, 1)
        if interpolation == "nearest":
            assert (ref != y[i]).float().mean() < 0.01  # differs only where a coordinate rounds at exactly .5
        else:
            assert psnr(ref, y[i]) > 40 and (ref.int() - y[i].int()).abs().max() <= 6


def test_per_channel_fill_and_output_size():
    x = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    y = warp_affine(x, matrices.translation(torch.tensor([100.0]), torch.tensor([0.0])), fill=(1, 2, 3), size=(2, 5))
    assert y.shape == (1, 3, 2, 5) and y[0, :, 0, 0].tolist() == [1, 2, 3]


def test_composed_matrices_equal_sequential_warps_when_exact():
    x = sample_batch(torch.uint8, batch=3, size=12, seed=2)
    turn = matrices.about(matrices.rotation(torch.tensor([90.0, 180.0, 270.0])), 5.5, 5.5)
    shift = matrices.translation(torch.tensor([2.0, -3.0, 0.0]), torch.tensor([1.0, 0.0, -4.0]))
    sequential = warp_affine(warp_affine(x, turn), shift)
    assert torch.equal(warp_affine(x, shift @ turn), sequential)


def test_bad_arguments():
    x = sample_batch(torch.uint8, batch=1, size=4)
    with pytest.raises(ValueError, match="interpolation must be one of .*'bicubic'"):
        warp_affine(x, matrices.identity(1), "bicubic")
    with pytest.raises(ValueError, match="fill has 2 values but the images have 3 channels"):
        warp_affine(x, matrices.identity(1), fill=[1, 2])


@pytest.mark.parametrize(
    "module", ["functional.warp", "rotate", "flip", "crop", "random_resized_crop", "translate", "shear", "affine"]
)
def test_docstring_examples_run(module):
    import importlib

    mod = importlib.import_module(f"effl_plugins.augment.{module}")
    result = doctest.testmod(mod, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

"""affine: torchvision's RandomAffine composition, three point pairs like cv2.getAffineTransform, one composed warp."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.augment.functional import matrices
from effl_plugins.augment.functional.warp import warp_affine
from effl_plugins.testing import sample_batch

NEAREST = TF.InterpolationMode.NEAREST


def as_image(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy().copy()


def as_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)


def test_random_affine_matches_torchvision_affine_and_opencv():
    x = sample_batch(torch.uint8, batch=8, size=24, seed=11)
    aug = ep.create_augmentation("affine", degrees=40, translate=(0.2, 0.1), scale=(0.7, 1.3), shear=(-15, 15, -10, 10))
    image = ep.create_augmentation("affine", backend="image")
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    params = aug.last_params
    assert len(set(params["angle"].tolist())) == 8 and params["shear"][:, 1].abs().max() > 1
    for i in range(8):
        tv = TF.affine(
            x[i],
            angle=-float(params["angle"][i]),
            translate=params["translate"][i].tolist(),
            scale=float(params["scale"][i]),
            shear=params["shear"][i].tolist(),
            interpolation=NEAREST,
            fill=0,
        )  # torchvision's angle is clockwise
        cv = as_tensor(image(as_image(x[i]), params={k: v[i].numpy() for k, v in params.items()}))
        assert (tv != y[i]).float().mean() < 0.01 and (cv != y[i]).float().mean() < 0.01


def test_random_affine_params_respect_their_ranges():
    aug = ep.create_augmentation(
        "affine", degrees=(5, 10), translate=(0.25, 0.0), scale=(0.5, 0.6), shear=(-3, 3, 20, 30)
    )
    aug(torch.zeros(300, 1, 20, 40, dtype=torch.uint8), generator=torch.Generator().manual_seed(1))
    p = aug.last_params
    assert p["angle"].min() >= 5 and p["angle"].max() <= 10 and p["scale"].min() >= 0.5 and p["scale"].max() <= 0.6
    assert (
        torch.equal(p["translate"], p["translate"].round())
        and p["translate"][:, 0].abs().max() <= 10
        and not p["translate"][:, 1].any()
    )
    assert p["shear"][:, 0].abs().max() <= 3 and p["shear"][:, 1].min() >= 20 and p["shear"][:, 1].max() <= 30


def triangle_points(draw_values: list[float]) -> tuple[np.ndarray, np.ndarray] | None:
    src = np.array(draw_values[:6], dtype=np.float32).reshape(3, 2)
    dst = np.array(draw_values[6:], dtype=np.float32).reshape(3, 2)

    def area(points):
        (ax, ay), (bx, by) = points[1] - points[0], points[2] - points[0]
        return abs(float(ax) * float(by) - float(ay) * float(bx))

    return (src, dst) if area(src) > 40 and area(dst) > 40 else None


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(0, 31), min_size=12, max_size=12))
def test_three_point_affine_maps_source_points_onto_destination_points(values):
    points = triangle_points(values)
    if points is None:
        return
    src, dst = points
    aug = ep.create_augmentation("affine", src_points=src, dst_points=dst)
    aug(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    m = aug.last_params["matrix"][0].double()
    mapped = (m @ torch.cat([torch.from_numpy(src).double(), torch.ones(3, 1, dtype=torch.float64)], 1).T).T[:, :2]
    np.testing.assert_allclose(mapped.numpy(), dst, atol=1e-3)
    np.testing.assert_allclose(m[:2].numpy(), cv2.getAffineTransform(src, dst), rtol=1e-4, atol=1e-3)


def test_three_point_warp_moves_a_marked_pixel_onto_its_destination():
    x = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    x[0, 0, 3, 5] = 255  # (x, y) = (5, 3)
    src = [[5, 3], [12, 3], [5, 10]]
    dst = [[10, 8], [10, 15], [3, 8]]  # a quarter turn plus a shift, integer everywhere
    y, _ = ep.create_augmentation("affine", src_points=src, dst_points=dst)(x)
    assert y[0, 0, 8, 10] == 255 and int(y.sum()) == 255
    img = ep.create_augmentation("affine", backend="image", src_points=src, dst_points=dst)(as_image(x[0]))
    assert torch.equal(as_tensor(img), y[0])


def test_per_sample_point_tensors_and_batch_equals_single():
    x = sample_batch(torch.uint8, batch=4, size=20, seed=3)
    src = torch.tensor([[2.0, 2.0], [17.0, 2.0], [2.0, 17.0]]).expand(4, 3, 2)
    dst = src + torch.tensor([[[0.0, 0.0]], [[1.0, 2.0]], [[-2.0, 0.0]], [[3.0, -1.0]]])
    aug = ep.create_augmentation("affine", src_points=src, dst_points=dst, interpolation="bilinear")
    y, _ = aug(x)
    assert torch.equal(y[0], x[0])  # identity pair
    for i in range(1, 4):
        tx, ty = (int(v) for v in dst[i, 0] - src[i, 0])
        assert torch.equal(
            y[i],
            warp_affine(x[i : i + 1], matrices.translation(torch.tensor([float(tx)]), torch.tensor([float(ty)])))[0],
        )
    with pytest.raises(ValueError, match="src_points holds 4 point triples but the batch has 2 images"):
        aug(x[:2])


def test_point_jitter_moves_points_per_sample():
    aug = ep.create_augmentation("affine", point_jitter=0.1)
    x = sample_batch(torch.uint8, batch=1, size=16).expand(6, -1, -1, -1)
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    m = aug.last_params["matrix"]
    assert m.shape == (6, 3, 3) and len({tuple(r.flatten().tolist()) for r in m}) == 6
    assert not torch.equal(y[0], y[1])
    anchors = torch.tensor([[4.0, 4.0, 1.0], [12.0, 4.0, 1.0], [4.0, 12.0, 1.0]])
    moved = (m @ anchors.T).transpose(1, 2)[..., :2] - anchors[:, :2]
    assert moved.abs().max() <= 1.6 + 1e-4  # at most 10% of 16 pixels


def test_one_warp_composes_rotate_shear_translate():
    """rand_augment's use: several ops' matrices multiplied, then a single warp."""
    x = sample_batch(torch.uint8, batch=3, size=12, seed=4)
    rotate, translate = ep.create_augmentation("rotate"), ep.create_augmentation("translate", axis="both")
    turn = {"angle": torch.tensor([90.0, 180.0, -90.0])}
    shift = {"shift": torch.tensor([[2.0, 1.0], [0.0, -3.0], [-4.0, 2.0]])}
    composed = translate.matrix_from_params(shift, 12, 12) @ rotate.matrix_from_params(turn, 12, 12)
    sequential = translate(rotate(x, params=turn)[0], params=shift)[0]
    assert torch.equal(warp_affine(x, composed), sequential)


def test_probability_zero_is_identity_in_both_modes():
    x = sample_batch(torch.uint8, batch=5, size=10)
    for kwargs in ({}, {"point_jitter": 0.2}):
        y, _ = ep.create_augmentation("affine", p=0.0, interpolation="bilinear", **kwargs)(
            x, generator=torch.Generator().manual_seed(0)
        )
        assert torch.equal(x, y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"degrees": -1}, r"degrees must be >= 0"),
        ({"scale": (0.0, 1.0)}, r"scale must be a \(low, high\) pair in \(0, ...\]"),
        ({"scale": (-1.0, 2.0)}, r"scale must be"),
        (
            {"translate": (0.5, 1.5)},
            r"translate must be None or \(max_dx, max_dy\) fractions in \[0, 1\], got \(0.5, 1.5\)",
        ),
        ({"shear": 95}, r"shear angles must lie in \(-90, 90\)"),
        ({"p": 1.01}, "probability in \\[0, 1\\]"),
        ({"point_jitter": 2.0}, "point_jitter must be"),
        (
            {"src_points": [[0, 0], [1, 0]], "dst_points": [[0, 0], [1, 0]]},
            r"src_points must be \[3, 2\] .* got shape \(2, 2\)",
        ),
        (
            {"src_points": [[0, 0], [1, 0], [0, 1]], "dst_points": [[0, 0, 0]] * 3},
            r"dst_points must be \[3, 2\].*got shape \(3, 3\)",
        ),
        ({"src_points": [[0, 0], [1, 1], [2, 2]], "dst_points": [[0, 0], [1, 0], [0, 1]]}, "src_points are collinear"),
        ({"src_points": [[0, 0], [1, 0], [0, 1]], "dst_points": [[0, 6], [7, 0], [0, 6]]}, "dst_points are collinear"),
        ({"src_points": [[0, 0], [1, 0], [0, 1]]}, "src_points and dst_points go together"),
    ],
)
def test_bad_arguments(kwargs, match):
    for backend in ("batch", "image"):
        with pytest.raises(ValueError, match=match):
            ep.create_augmentation("affine", backend=backend, **kwargs)

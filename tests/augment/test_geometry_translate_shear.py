"""translate and shear: RandAugment's torchvision semantics, exact shifts, both backends equal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.testing import sample_batch

NEAREST = TF.InterpolationMode.NEAREST


def as_image(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy().copy()


def as_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), axis=st.sampled_from(["x", "y", "both"]), fill=st.integers(0, 255))
def test_whole_pixel_translation_with_nearest_is_a_shifted_slice(seed, axis, fill):
    x = sample_batch(torch.uint8, batch=6, size=11, seed=seed % 1000)
    aug = ep.create_augmentation("translate", max_fraction=0.6, axis=axis, fill=fill)
    y, _ = aug(x, generator=torch.Generator().manual_seed(seed))
    shifts = aug.last_params["shift"]
    assert torch.equal(shifts, shifts.round())
    assert axis == "both" or not shifts[:, 0 if axis == "y" else 1].any()
    for i in range(6):
        tx, ty = (int(v) for v in shifts[i])
        expected = torch.full_like(x[i], fill)
        expected[:, max(ty, 0) : 11 + min(ty, 0), max(tx, 0) : 11 + min(tx, 0)] = x[
            i, :, max(-ty, 0) : 11 - max(ty, 0), max(-tx, 0) : 11 - max(tx, 0)
        ]
        assert torch.equal(y[i], expected)


def test_translate_matches_torchvision_affine():
    x = sample_batch(torch.uint8, batch=4, size=20, seed=1)
    shifts = torch.tensor([[3.0, 0.0], [-7.0, 0.0], [0.0, 4.0], [2.4, -5.6]])
    y, _ = ep.create_augmentation("translate", axis="both")(x, params={"shift": shifts})
    for i in range(4):
        tv = TF.affine(
            x[i], angle=0.0, translate=shifts[i].tolist(), scale=1.0, shear=[0.0, 0.0], interpolation=NEAREST, fill=0
        )
        assert torch.equal(tv, y[i])


@pytest.mark.parametrize("axis", ["x", "y"])
def test_shear_matches_torchvision_randaugment(axis):
    """torchvision RandAugment: F.affine(angle=0, translate=0, scale=1, shear=[degrees(atan(s)), 0], center=[0, 0])."""
    x = sample_batch(torch.uint8, batch=8, size=24, seed=2)
    aug = ep.create_augmentation("shear", axis=axis, max_factor=0.3)
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    factors = aug.last_params["shear"]
    assert factors[:, 1 if axis == "x" else 0].abs().sum() == 0 and factors.abs().max() > 0.1
    for i in range(8):
        s = float(factors[i, 0 if axis == "x" else 1])
        degrees = [math.degrees(math.atan(s)), 0.0] if axis == "x" else [0.0, math.degrees(math.atan(s))]
        tv = TF.affine(
            x[i], angle=0.0, translate=[0, 0], scale=1.0, shear=degrees, interpolation=NEAREST, fill=0, center=[0, 0]
        )
        assert (tv != y[i]).float().mean() < 0.005


def test_shear_reads_the_input_at_x_plus_s_y():
    """The output pixel (x, y) shows the input at (x + s * (y + 0.5), y): fixed point at the top-left corner."""
    x = torch.arange(8, dtype=torch.uint8).view(1, 1, 1, 8).expand(1, 1, 8, 8).contiguous()  # value = column
    y, _ = ep.create_augmentation("shear")(x, params={"shear": torch.tensor([[1.0, 0.0]])})
    for row in range(8):
        shift = row + 0.5
        expected = [int(np.floor(col + shift + 0.5)) if col + shift + 0.5 < 8 else 0 for col in range(8)]
        assert y[0, 0, row].tolist() == expected


@pytest.mark.parametrize("name", ["translate", "shear"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_batch_equals_image_backend(name, interpolation):
    x = sample_batch(torch.uint8, batch=6, size=20, seed=3)
    kwargs = {"axis": "both", "interpolation": interpolation}
    if name == "translate":
        kwargs["whole_pixels"] = False
    aug = ep.create_augmentation(name, **kwargs)
    image = ep.create_augmentation(name, backend="image", **kwargs)
    y, _ = aug(x, generator=torch.Generator().manual_seed(5))
    key = "shift" if name == "translate" else "shear"
    for i in range(6):
        ref = as_tensor(image(as_image(x[i]), params={key: aug.last_params[key][i].numpy()}))
        diff = (ref.int() - y[i].int()).abs()
        if interpolation == "nearest":
            assert (diff > 0).float().mean() < 0.005
        else:
            assert diff.max() <= 3


def test_magnitude_mapping_is_torchvision_randaugment():
    x = sample_batch(torch.uint8, batch=3, size=33)[..., :22]  # H 33, W 22
    magnitude, sign = torch.tensor([0.0, 0.5, 1.0]), torch.tensor([1.0, -1.0, 1.0])
    shear_x = ep.create_augmentation("shear", axis="x").params_from_magnitude(x, magnitude, sign)["shear"]
    shear_y = ep.create_augmentation("shear", axis="y").params_from_magnitude(x, magnitude, sign)["shear"]
    torch.testing.assert_close(shear_x, torch.tensor([[0.0, 0.0], [-0.15, 0.0], [0.3, 0.0]]))
    torch.testing.assert_close(shear_y, torch.tensor([[0.0, 0.0], [0.0, -0.15], [0.0, 0.3]]))
    tx = ep.create_augmentation("translate", axis="x").params_from_magnitude(x, magnitude, sign)["shift"]
    ty = ep.create_augmentation("translate", axis="y").params_from_magnitude(x, magnitude, sign)["shift"]
    # torchvision's int(): 150 / 331 * 22 = 9.97 -> 9 at the top bin, 4.98 -> 4 at bin 15; 14.95 -> 14 and 7.48 -> 7
    # for 33
    torch.testing.assert_close(tx[:, 0], torch.tensor([0.0, -4.0, 9.0]), rtol=0, atol=0)
    torch.testing.assert_close(ty[:, 1], torch.tensor([0.0, -7.0, 14.0]), rtol=0, atol=0)
    assert not tx[:, 1].any() and not ty[:, 0].any()
    img = as_image(x[0])
    np.testing.assert_allclose(
        ep.create_augmentation("translate", backend="image", axis="y").params_from_magnitude(img, 1.0, -1.0)["shift"],
        [0.0, -14.0],
        rtol=0,
    )
    np.testing.assert_allclose(
        ep.create_augmentation("shear", backend="image", axis="x").params_from_magnitude(img, 0.5, 1.0)["shear"],
        [0.15, 0.0],
    )


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("translate", {"max_fraction": -0.1}, "max_fraction must be >= 0"),
        ("translate", {"axis": "z"}, r"axis must be one of \('x', 'y', 'both'\), got 'z'"),
        ("shear", {"max_factor": (0.5, 0.1)}, "max_factor must be a finite .*low <= high"),
        ("shear", {"center": "middle"}, "center must be one of"),
        ("shear", {"p": 2}, "probability"),
        ("translate", {"fill": "red"}, "fill must be a number"),
    ],
)
def test_bad_arguments(name, kwargs, match):
    for backend in ("batch", "image"):
        with pytest.raises(ValueError, match=match):
            ep.create_augmentation(name, backend=backend, **kwargs)

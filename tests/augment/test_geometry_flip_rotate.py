"""flip and rotate: pixel-exact where the math is, torchvision- and OpenCV-equal for the same parameter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.augment.functional.warp import warp_affine
from effl_plugins.testing import sample_batch

NEAREST = TF.InterpolationMode.NEAREST


def as_image(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy().copy()


def as_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)


def psnr(a, b) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "both"])
def test_flip_is_torch_flip_per_sample(direction):
    x = sample_batch(torch.uint8, batch=12, size=7)
    aug = ep.create_augmentation("flip", direction=direction, p=0.5)
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    h, v = aug.last_params["horizontal"], aug.last_params["vertical"]
    assert h.any() or v.any()
    for i in range(12):
        dims = [d for d, on in ((-1, h[i]), (-2, v[i])) if on]
        assert torch.equal(y[i], torch.flip(x[i], dims) if dims else x[i])
    if direction == "horizontal":
        assert not v.any()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    direction=st.sampled_from(["horizontal", "vertical", "both"]),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
)
def test_flip_twice_is_identity(seed, direction, height, width):
    x = torch.randint(0, 256, (5, 3, height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    aug = ep.create_augmentation("flip", direction=direction, p=0.5)
    once, _ = aug(x, generator=torch.Generator().manual_seed(seed))
    twice, _ = aug(once, params=aug.last_params)
    assert torch.equal(twice, x)


def test_flip_matrix_warp_and_image_backend_agree_exactly():
    x = sample_batch(torch.uint8, batch=8, size=9)
    aug = ep.create_augmentation("flip", direction="both")
    image = ep.create_augmentation("flip", backend="image", direction="both")
    y, _ = aug(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(warp_affine(x, aug.matrix_from_params(aug.last_params, 9, 9)), y)
    for i in range(8):
        params = {k: bool(v[i]) for k, v in aug.last_params.items()}
        assert torch.equal(as_tensor(image(as_image(x[i]), params=params)), y[i])


def test_hflip_and_vflip_names():
    x = sample_batch(torch.uint8, batch=4, size=5)
    assert torch.equal(ep.create_augmentation("hflip", p=1.0)(x)[0], x.flip(-1))
    assert torch.equal(ep.create_augmentation("vflip", p=1.0)(x)[0], x.flip(-2))
    img = as_image(x[0])
    assert np.array_equal(ep.create_augmentation("hflip", backend="image", p=1.0)(img), img[:, ::-1])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_quarter_turns_are_torch_rot90_per_sample(dtype, interpolation):
    x = sample_batch(dtype, batch=12, size=8)
    aug = ep.create_augmentation("rotate", angles=(0, 90, 180, 270, -90), interpolation=interpolation)
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    angles = aug.last_params["angle"]
    assert len(set(angles.tolist())) >= 3
    for i in range(12):
        assert torch.equal(y[i], torch.rot90(x[i], int(angles[i]) // 90, (-2, -1)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), size=st.integers(1, 10), angle=st.sampled_from([90.0, -90.0, 270.0]))
def test_four_quarter_turns_are_identity(seed, size, angle):
    x = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    aug = ep.create_augmentation("rotate")
    params = {"angle": torch.full((2,), angle)}
    y = x
    for _ in range(4):
        y, _ = aug(y, params=params)
    assert torch.equal(y, x)


def test_half_turn_is_exact_on_non_square_images():
    x = sample_batch(torch.uint8, batch=2, size=12)[..., :7]
    y, _ = ep.create_augmentation("rotate")(x, params={"angle": torch.tensor([180.0, -180.0])})
    assert torch.equal(y, x.flip(-1).flip(-2))


def test_rotate_matches_torchvision_nearest_and_bilinear():
    x = sample_batch(torch.uint8, batch=6, size=24, seed=4)
    angles = torch.tensor([3.0, -17.5, 29.0, 45.0, -120.0, 200.0])
    near, _ = ep.create_augmentation("rotate")(x, params={"angle": angles})
    bil, _ = ep.create_augmentation("rotate", interpolation="bilinear")(x, params={"angle": angles})
    for i, angle in enumerate(angles.tolist()):
        # Only exact ties differ (45 degrees has a diagonal of them): torchvision rounds .5 to even, OpenCV and we
        # round up.
        assert (TF.rotate(x[i], angle, interpolation=NEAREST) != near[i]).float().mean() < 0.02
        assert psnr(TF.rotate(x[i], angle, interpolation=TF.InterpolationMode.BILINEAR), bil[i]) > 40


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rotate_batch_equals_image_backend_for_replayed_angles(interpolation):
    x = sample_batch(torch.uint8, batch=6, size=20, seed=6)
    aug = ep.create_augmentation("rotate", degrees=180, interpolation=interpolation, fill=(5, 60, 200))
    image = ep.create_augmentation("rotate", backend="image", interpolation=interpolation, fill=(5, 60, 200))
    y, _ = aug(x, generator=torch.Generator().manual_seed(1))
    for i in range(6):
        ref = as_tensor(image(as_image(x[i]), params={"angle": float(aug.last_params["angle"][i])}))
        if interpolation == "nearest":
            assert (ref != y[i]).float().mean() < 0.005
        else:
            assert psnr(ref, y[i]) > 40 and (ref[:, 2:-2, 2:-2].int() - y[i, :, 2:-2, 2:-2].int()).abs().max() <= 6


def test_rotate_magnitude_mapping_is_torchvision_randaugment():
    x = sample_batch(torch.uint8, batch=4, size=8)
    aug = ep.create_augmentation("rotate")
    assert aug.signed
    params = aug.params_from_magnitude(x, torch.tensor([0.0, 0.5, 1.0, 1.0]), torch.tensor([1.0, -1.0, 1.0, -1.0]))
    assert torch.equal(params["angle"], torch.tensor([0.0, -15.0, 30.0, -30.0]))
    tv_bins = torch.linspace(0.0, 30.0, 31)  # torchvision RandAugment's rotate bins
    assert aug.params_from_magnitude(x, torch.tensor([20 / 30] * 4), torch.ones(4))["angle"][0] == pytest.approx(
        float(tv_bins[20])
    )
    image = ep.create_augmentation("rotate", backend="image")
    assert image.params_from_magnitude(as_image(x[0]), 0.5, -1.0) == {"angle": -15.0}


def test_rotate_probability_zero_is_identity():
    x = sample_batch(torch.uint8, batch=8, size=10)
    y, _ = ep.create_augmentation("rotate", p=0.0, interpolation="bilinear")(
        x, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(x, y)


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("rotate", {"degrees": -5}, r"degrees must be >= 0 .* got -5"),
        ("rotate", {"degrees": (10, -10)}, "low <= high"),
        ("rotate", {"angles": []}, "angles must be"),
        ("rotate", {"p": 1.5}, "probability in \\[0, 1\\], got 1.5"),
        ("rotate", {"interpolation": "cubic"}, "interpolation must be one of"),
        ("flip", {"direction": "diagonal"}, "direction must be one of .*'diagonal'"),
        ("flip", {"p": -0.1}, "probability"),
    ],
)
def test_bad_arguments(name, kwargs, match):
    for backend in ("batch", "image"):
        with pytest.raises(ValueError, match=match):
            ep.create_augmentation(name, backend=backend, **kwargs)

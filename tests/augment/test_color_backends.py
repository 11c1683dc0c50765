"""Colour ops: the batch backend on CPU equals the OpenCV/NumPy backend for the same replayed params,
and the RandAugment magnitude mapping equals torchvision's augmentation space on both backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import effl_plugins as ep
from effl_plugins.testing import sample_batch

COLOUR_OPS = [
    "brightness",
    "contrast",
    "color",
    "sharpness",
    "posterize",
    "solarize",
    "invert",
    "equalize",
    "auto_contrast",
    "identity",
]
#: Wide ranges so that every branch is exercised.
WIDE = {
    "brightness": {"max_delta": 1.0},
    "contrast": {"max_delta": 1.0},
    "color": {"max_delta": 1.0},
    "sharpness": {"max_delta": 1.0},
    "posterize": {"bits": (1, 8)},
    "solarize": {"threshold": (0.0, 1.0)},
}


def _image_params(params: dict, i: int) -> dict:
    return {k: (v[i].numpy() if v[i].ndim else v[i].item()) for k, v in params.items()}


def _batch(channels: int = 3) -> torch.Tensor:
    noise = torch.randint(0, 256, (6, channels, 13, 17), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    return torch.cat([noise, sample_batch(torch.uint8, batch=4, size=17)[:, :channels, :13]])


def _as_image(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).numpy().copy()


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("name", COLOUR_OPS)
def test_batch_equals_image_backend(name, channels):
    kwargs = {**WIDE.get(name, {}), **({"mode": "factor"} if name == "brightness" and channels == 1 else {})}
    batch_op = ep.create_augmentation(name, **kwargs)
    image_op = ep.create_augmentation(name, backend="image", **kwargs)
    x = _batch(channels)
    y, _ = batch_op(x, generator=torch.Generator().manual_seed(9))
    for i in range(len(x)):
        out = image_op(_as_image(x[i]), params=_image_params(batch_op.last_params, i))
        np.testing.assert_array_equal(out, _as_image(y[i]), err_msg=f"{name} sample {i}")


@pytest.mark.parametrize("name", COLOUR_OPS)
def test_magnitude_params_equal_between_backends(name):
    batch_op, image_op = ep.create_augmentation(name), ep.create_augmentation(name, backend="image")
    x = _batch()
    magnitude = torch.arange(len(x), dtype=torch.float32) / (len(x) - 1)
    sign = torch.tensor([1.0, -1.0]).repeat(len(x) // 2)
    params = batch_op.params_from_magnitude(x, magnitude, sign)
    y, _ = batch_op(x, params=params)
    for i in range(len(x)):
        image_params = image_op.params_from_magnitude(_as_image(x[i]), float(magnitude[i]), int(sign[i]))
        np.testing.assert_array_equal(image_op(_as_image(x[i]), params=image_params), _as_image(y[i]))
    assert isinstance(batch_op.signed, bool) and batch_op.signed == image_op.signed


def test_magnitude_mapping_matches_torchvision_augmentation_space():
    from torchvision.transforms.v2 import RandAugment as TorchvisionRandAugment

    space = TorchvisionRandAugment._AUGMENTATION_SPACE
    x = _batch()[:1].expand(31, -1, -1, -1)
    magnitude = torch.arange(31, dtype=torch.float32) / 30
    for ours, theirs in [
        ("brightness", "Brightness"),
        ("color", "Color"),
        ("contrast", "Contrast"),
        ("sharpness", "Sharpness"),
    ]:
        levels, signed = space[theirs][0](31, 13, 17), space[theirs][1]
        op = ep.create_augmentation(ours)
        assert op.signed == signed
        for s in (1.0, -1.0):
            factor = op.params_from_magnitude(x, magnitude, torch.full((31,), s))["factor"]
            factor = factor[:, 0] if factor.ndim == 2 else factor
            torch.testing.assert_close(factor, 1 + s * levels, atol=1e-6, rtol=0)
    bits = ep.create_augmentation("posterize").params_from_magnitude(x, magnitude, torch.ones(31))["bits"]
    assert bits.tolist() == space["Posterize"][0](31, 13, 17).tolist()
    threshold = ep.create_augmentation("solarize").params_from_magnitude(x, magnitude, torch.ones(31))["threshold"]
    # The fraction agrees to float32 rounding; torchvision's own 255 * linspace(1, 0, 31) lands a hair above or
    # below the integers 8.5 * (30 - i) at even bins, so integer thresholds are not compared here.
    torch.testing.assert_close(threshold, space["Solarize"][0](31, 13, 17), atol=1e-6, rtol=0)
    for name in ("auto_contrast", "equalize", "invert", "identity"):
        assert ep.create_augmentation(name).signed is False


@pytest.mark.parametrize("name", COLOUR_OPS)
@pytest.mark.parametrize(
    "magnitude, sign, error, match",
    [
        (torch.tensor([-0.1, 0.5]), torch.ones(2), ValueError, "magnitude must lie in"),
        (torch.tensor([0.2, 1.5]), torch.ones(2), ValueError, "magnitude must lie in"),
        (torch.tensor([0.2, 0.5]), torch.tensor([1.0, 0.0]), ValueError, "sign must hold"),
        (torch.tensor([0.2]), torch.ones(1), ValueError, r"shape \[2\]"),
        (torch.tensor([1, 0]), torch.ones(2), TypeError, "floating"),
    ],
)
def test_bad_magnitudes_batch(name, magnitude, sign, error, match):
    with pytest.raises(error, match=match):
        ep.create_augmentation(name).params_from_magnitude(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), magnitude, sign)


@pytest.mark.parametrize("name", COLOUR_OPS)
def test_bad_magnitudes_image(name):
    op, img = ep.create_augmentation(name, backend="image"), np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"magnitude must be a number in \[0, 1\].*-0.5"):
        op.params_from_magnitude(img, -0.5, 1)
    with pytest.raises(ValueError, match="sign must be"):
        op.params_from_magnitude(img, 0.5, 2)


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("brightness", {"mode": "multiply"}, "mode must be one of"),
        ("contrast", {"max_delta": -0.1}, r"max_delta must be in \[0, 1\].*-0.1"),
        ("color", {"max_delta": 1.5}, "max_delta"),
        ("sharpness", {"p": 1.5}, "probability"),
        ("posterize", {"bits": 0}, "bits must be an int in 1..8"),
        ("posterize", {"bits": 9}, "bits"),
        ("posterize", {"bits": (6, 3)}, "bits"),
        ("posterize", {"bits": 4.0}, "bits"),
        ("solarize", {"threshold": 1.2}, r"threshold must be a fraction in \[0, 1\].*1.2"),
        ("solarize", {"threshold": (0.8, 0.2)}, "threshold"),
        ("invert", {"p": -0.1}, "probability"),
        ("equalize", {"p": 2}, "probability"),
        ("auto_contrast", {"p": "half"}, "probability"),
    ],
)
def test_bad_arguments(name, kwargs, match):
    for backend in ("batch", "image"):
        with pytest.raises(ValueError, match=match):
            ep.create_augmentation(name, backend=backend, **kwargs)


@pytest.mark.parametrize("name", COLOUR_OPS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_dtype_shape_range_and_no_inplace(name, dtype):
    x = sample_batch(dtype if dtype != torch.float64 else torch.float32, batch=5).to(dtype)
    original = x.clone()
    y, _ = ep.create_augmentation(name, **WIDE.get(name, {}))(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, original) and y.dtype == dtype and y.shape == x.shape
    if dtype.is_floating_point:
        assert y.min() >= 0 and y.max() <= 1

"""contrast, color, sharpness: PIL ImageEnhance blends on both backends, and brightness's factor mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.augment.functional.enhance import luma, luma_image
from effl_plugins.testing import sample_batch

ENHANCE = ["contrast", "color", "sharpness"]


def _random(seed: int, shape=(4, 3, 9, 11), dtype=torch.uint8) -> torch.Tensor:
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return x if dtype == torch.uint8 else x.to(dtype) / 255


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), name=st.sampled_from(ENHANCE + ["brightness"]), as_float=st.booleans())
def test_factor_one_is_the_identity(seed, name, as_float):
    x = _random(seed, dtype=torch.float32 if as_float else torch.uint8)
    kwargs = {"mode": "factor"} if name == "brightness" else {}
    factor = torch.ones(4, 3) if name == "brightness" else torch.ones(4)
    y, _ = ep.create_augmentation(name, **kwargs)(x, params={"factor": factor})
    assert torch.equal(y, x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), factor=st.floats(0, 2))
def test_contrast_against_float64_reference(seed, factor):
    """factor * x + (1 - factor) * mean(luma), clipped and truncated; float32 rounding may move a value by 1."""
    x = _random(seed)
    y, _ = ep.create_augmentation("contrast")(x, params={"factor": torch.full((4,), factor)})
    mean = luma(x).double().mean(dim=(1, 2, 3), keepdim=True)
    expected = (factor * x.double() + (1 - factor) * mean).clamp(0, 255).floor()
    assert (y.double() - expected).abs().max() <= 1


def test_contrast_zero_gives_the_mean_grey_and_color_zero_gives_greyscale():
    x = _random(1)
    flat, _ = ep.create_augmentation("contrast")(x, params={"factor": torch.zeros(4)})
    mean = luma(x).double().mean(dim=(1, 2, 3))
    assert torch.equal(flat, mean.floor().to(torch.uint8).view(4, 1, 1, 1).expand_as(x))
    grey, _ = ep.create_augmentation("color")(x, params={"factor": torch.zeros(4)})
    assert torch.equal(grey, luma(x).to(torch.uint8).expand_as(x))


def test_luma_is_the_exact_floor_on_both_backends_for_every_rgb_triple():
    v = torch.arange(256, dtype=torch.int32)
    r, g = torch.meshgrid(v, v, indexing="ij")
    for blue in range(0, 256, 15):  # 18 slices of 65536 triples; the float32 path is exact on all of them
        b = torch.full_like(r, blue)
        x = torch.stack([r, g, b]).to(torch.uint8)[None]
        exact = (2989 * r + 5870 * g + 1140 * b) // 10000
        assert torch.equal(luma(x)[0, 0].to(torch.int32), exact)
        np.testing.assert_array_equal(luma_image(x[0].permute(1, 2, 0).numpy()), exact.numpy())


def test_sharpness_zero_gives_the_smoothed_interior_and_keeps_the_border():
    x = _random(3)
    y, _ = ep.create_augmentation("sharpness")(x, params={"factor": torch.zeros(4)})
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], dtype=torch.float64).expand(3, 1, 3, 3)
    smooth = torch.nn.functional.conv2d(x.double(), kernel, groups=3) / 13
    assert torch.equal(y[..., 1:-1, 1:-1], torch.round(smooth).to(torch.uint8))
    assert torch.equal(y[..., 0, :], x[..., 0, :]) and torch.equal(y[..., :, -1], x[..., :, -1])


def _grouped_convolution(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]]).expand(x.shape[1], 1, 3, 3).contiguous()
    return torch.nn.functional.conv2d(x, kernel, groups=x.shape[1])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 9),
    channels=st.integers(2, 4),
    height=st.integers(3, 40),
    width=st.integers(3, 70),
    scale=st.sampled_from([1.0, 255.0, 1e4]),
    channels_last=st.booleans(),
)
def test_float32_tap_sums_equal_the_grouped_convolution_where_the_probe_says_so(
    seed, batch, channels, height, width, scale, channels_last
):
    """Where the probe finds the eight adds equal to float32 conv2d here, they are equal on every shape (the vector
    lanes and the tails of rows), value range and memory layout; the probe's verdict decides nothing else."""
    from effl_plugins.augment import sharpness

    if not sharpness._taps_equal_convolution():
        pytest.skip("conv2d sums the taps in another order on this machine: the convolution is used")
    x = torch.randn(batch, channels, height, width, generator=torch.Generator().manual_seed(seed)) * scale
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(sharpness._tap_sums(x), _grouped_convolution(x))


@pytest.mark.parametrize("probe", [True, False])
@pytest.mark.parametrize("channels", [1, 3])
def test_float32_sharpness_takes_the_tap_sums_only_where_the_probe_allows(monkeypatch, probe, channels):
    """The probe's verdict and the channel count decide: the adds for float32 images of two channels or more where
    the probe finds them equal to the convolution, conv2d otherwise (one channel is not a grouped convolution and
    is summed in another order); the smoothed interior is the same either way."""
    from effl_plugins.augment import sharpness

    calls = []
    monkeypatch.setattr(sharpness, "_taps_equal_convolution", lambda: probe)
    monkeypatch.setattr(sharpness, "_tap_sums", lambda v, tap_sums=sharpness._tap_sums: calls.append(1) or tap_sums(v))
    x = _random(5, shape=(3, channels, 12, 17), dtype=torch.float32)
    smooth = sharpness.smoothed(x, integer=False)
    assert calls == ([1] if probe and channels > 1 else [])
    torch.testing.assert_close(smooth, _grouped_convolution(x) / 13, rtol=0, atol=1e-6)


@pytest.mark.parametrize("size", [(1, 5), (2, 2), (5, 2)])
def test_sharpness_leaves_tiny_images_alone(size):
    x = _random(4, shape=(2, 3, *size))
    y, _ = ep.create_augmentation("sharpness")(x, params={"factor": torch.tensor([0.0, 2.0])})
    assert torch.equal(y, x)
    img = x[0].permute(1, 2, 0).numpy().copy()
    assert np.array_equal(ep.create_augmentation("sharpness", backend="image")(img, params={"factor": 0.0}), img)


@pytest.mark.parametrize("name", ENHANCE)
def test_per_sample_factors_and_probability(name):
    x = sample_batch(torch.uint8, batch=1).expand(16, -1, -1, -1)
    aug = ep.create_augmentation(name, max_delta=0.8)
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    factor = aug.last_params["factor"]
    assert factor.shape == (16,) and len(set(factor.tolist())) == 16
    assert float(factor.min()) >= 0.2 and float(factor.max()) <= 1.8
    assert len({bytes(y[i].flatten().numpy()) for i in range(16)}) > 8
    y, _ = ep.create_augmentation(name, p=0.0)(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, x)


def test_color_leaves_single_channel_images_alone():
    x = _random(5, shape=(3, 1, 6, 6))
    y, _ = ep.create_augmentation("color")(x, params={"factor": torch.tensor([0.0, 0.5, 2.0])})
    assert torch.equal(y, x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), max_delta=st.floats(0, 1), as_float=st.booleans())
def test_brightness_factor_mode_is_monotone_and_in_range(seed, max_delta, as_float):
    aug = ep.create_augmentation("brightness", mode="factor", max_delta=max_delta)
    ramp = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(4, 3, 16, 16).contiguous()
    x = ramp.float() / 255 if as_float else ramp
    y, _ = aug(x, generator=torch.Generator().manual_seed(seed))
    flat = y.flatten(2).double()
    assert (flat.diff(dim=-1) >= 0).all() and flat.min() >= 0 and flat.max() <= (1 if as_float else 255)
    factor = aug.last_params["factor"]
    assert factor.shape == (4, 3) and (factor >= 1 - max_delta - 1e-6).all() and (factor <= 1 + max_delta + 1e-6).all()
    if not as_float:  # truncation of x * factor, checked in float64
        expected = (ramp.double() * factor.double()[:, :, None, None]).clamp(0, 255).floor()
        assert (y.double() - expected).abs().max() <= 1


def test_brightness_factor_mode_defaults_to_one_factor_per_sample():
    x = torch.full((8, 3, 2, 2), 100, dtype=torch.uint8)
    factor = ep.create_augmentation("brightness", mode="factor").sample_params(x, torch.Generator().manual_seed(0))[
        "factor"
    ]
    assert torch.equal(factor[:, 0], factor[:, 2]) and len(set(factor[:, 0].tolist())) == 8
    per_channel = ep.create_augmentation("brightness", mode="factor", per_channel=True).sample_params(
        x, torch.Generator().manual_seed(0)
    )
    assert not torch.equal(per_channel["factor"][:, 0], per_channel["factor"][:, 1])
    image_params = ep.create_augmentation("brightness", backend="image", mode="factor").sample_params(
        x[0].permute(1, 2, 0).numpy(), np.random.default_rng(0)
    )
    assert "factor" in image_params and len(set(image_params["factor"].tolist())) == 1


@settings(max_examples=40, deadline=None)
@given(factor=st.floats(0.0, 2.0, width=32))
def test_image_backend_pair_tables_are_the_blend_of_every_pair(factor):
    """The image backend's 256x256 tables of color and sharpness hold, for every (degenerate, pixel)
    pair, the blend evaluated element by element (the fused multiply-add rounded once)."""
    from effl_plugins.augment.color import _color_table
    from effl_plugins.augment.functional.enhance import blend_image
    from effl_plugins.augment.sharpness import _sharpness_table

    degenerate, value = np.meshgrid(np.arange(256, dtype=np.float32), np.arange(256, dtype=np.float32), indexing="ij")
    blended = np.clip(blend_image(value, degenerate, np.float32(factor)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(_color_table(float(np.float32(factor))), blended)
    alpha = np.float64(np.float32(1) - np.float32(factor))
    exact = value.astype(np.float64) + alpha * (degenerate.astype(np.float64) - value)
    np.testing.assert_array_equal(
        _sharpness_table(float(np.float32(factor))), np.clip(exact.astype(np.float32), 0, 255).astype(np.uint8)
    )

"""example_gaussian_noise's own behaviour, beyond the conformance checks."""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep


def _images(dtype=torch.uint8, batch=8):
    one = torch.linspace(0, 1, 3 * 16 * 16).view(1, 3, 16, 16)
    images = one.expand(batch, -1, -1, -1).contiguous()  # identical samples: any difference is per-sample noise
    return (images * 255).round().to(torch.uint8) if dtype == torch.uint8 else images.to(dtype)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_noise_differs_per_sample(dtype):
    aug = ep.create_augmentation("example_gaussian_noise", max_sigma=0.2)
    images = _images(dtype)
    out, _ = aug(images, generator=torch.Generator().manual_seed(0))
    assert out.dtype == dtype and out.shape == images.shape
    assert all(not torch.equal(out[0], out[i]) for i in range(1, len(out)))
    sigma = aug.last_params["sigma"]
    assert sigma.shape == (8,) and len(set(sigma.tolist())) == 8 and bool((sigma >= 0).all() and (sigma <= 0.2).all())
    assert aug.last_params["noise"].shape == images.shape


def test_reproducible_under_a_generator_and_input_untouched():
    aug = ep.create_augmentation("example_gaussian_noise")
    images = _images(torch.float32)
    original = images.clone()
    first, _ = aug(images, generator=torch.Generator().manual_seed(7))
    second, _ = aug(images, generator=torch.Generator().manual_seed(7))
    other, _ = aug(images, generator=torch.Generator().manual_seed(8))
    assert torch.equal(first, second) and not torch.equal(first, other)
    assert torch.equal(images, original)
    replay, _ = aug(images, params=aug.last_params)
    assert torch.equal(replay, other)


def test_noise_scale_follows_sigma():
    aug = ep.create_augmentation("example_gaussian_noise", max_sigma=0.0)
    images = _images(torch.float32)
    out, _ = aug(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, images)
    noisy = ep.create_augmentation("example_gaussian_noise", max_sigma=0.1)
    flat = torch.full((64, 3, 32, 32), 0.5)
    out, _ = noisy(flat, generator=torch.Generator().manual_seed(0))
    measured = (out - flat).flatten(1).std(dim=1)
    assert torch.allclose(measured, noisy.last_params["sigma"], atol=0.01)


@pytest.mark.parametrize("bad", [-0.1, 1.5, True, "0.1"])
def test_max_sigma_is_checked(bad):
    with pytest.raises(ValueError, match="max_sigma"):
        ep.create_augmentation("example_gaussian_noise", max_sigma=bad)


def test_image_backend_matches_the_batch_backend_in_distribution():
    import numpy as np

    aug = ep.create_augmentation("example_gaussian_noise", backend="image", max_sigma=0.1)
    img = np.full((32, 32, 3), 128, np.uint8)
    original = img.copy()
    out = aug(img, rng=np.random.default_rng(0))
    assert np.array_equal(img, original) and out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out, aug(img, rng=np.random.default_rng(0)))
    sigma = aug.last_params["sigma"]
    assert 0 <= sigma <= 0.1 and abs((out.astype(np.float64) - 128).std() / 255 - sigma) < 0.01

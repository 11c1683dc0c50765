"""solarize_add and gaussian_blur, AutoAugment's ops outside RandAugment's set: against timm's and PIL's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from sklearn.datasets import load_sample_images
from timm.data import auto_augment as timm_aa

import effl_plugins as ep
from effl_plugins.augment.gaussian_blur import gaussian_blur
from effl_plugins.testing import sample_batch

PHOTO = np.ascontiguousarray(load_sample_images().images[0][::4, ::4])


@pytest.mark.parametrize("add", [0, 33, 110, 128])
def test_solarize_add_is_timms_on_both_backends(add):
    img = sample_batch(torch.uint8, batch=1, size=16)[0].permute(1, 2, 0).numpy().copy()
    expected = np.array(timm_aa.solarize_add(Image.fromarray(img), add))
    params = {"add": add / 255, "threshold": 128 / 255}
    assert np.array_equal(ep.create_augmentation("solarize_add", backend="image")(img, params=params), expected)
    batch = ep.create_augmentation("solarize_add")
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    out, _ = batch(x, params={key: torch.tensor([value], dtype=torch.float32) for key, value in params.items()})
    assert np.array_equal(out[0].permute(1, 2, 0).numpy(), expected)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 1.0, 2.0])
def test_gaussian_blur_is_pils_but_for_rounding(sigma):
    theirs = np.array(Image.fromarray(PHOTO).filter(ImageFilter.GaussianBlur(radius=sigma))).astype(int)
    x = torch.from_numpy(PHOTO).permute(2, 0, 1)[None].contiguous()
    ours = gaussian_blur(x, torch.tensor([sigma]), 6)[0].permute(1, 2, 0).numpy().astype(int)
    diff = np.abs(ours - theirs)
    assert diff.mean() < 0.6 and (diff > 2).mean() < 0.01  # PIL approximates the Gaussian by three box blurs
    image = ep.create_augmentation("gaussian_blur", backend="image")(PHOTO, params={"sigma": sigma}).astype(int)
    assert np.abs(image - ours).max() <= 1  # cv2's fixed-point kernel against float32


def test_sigma_zero_and_not_applied_leave_the_image():
    x = sample_batch(torch.uint8, batch=2, size=12)
    out, _ = ep.create_augmentation("gaussian_blur", p=0.0)(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, x)


@pytest.mark.parametrize(
    ("name", "kwargs", "words"),
    [
        ("solarize_add", {"add": 1.5}, "add must be in [0, 1]"),
        ("solarize_add", {"add": (0.4, 0.1)}, "add must be a range (low, high) with low <= high"),
        ("solarize_add", {"threshold": 2}, "threshold must be a fraction in [0, 1]"),
        ("gaussian_blur", {"sigma": -1}, "sigma must lie in [0.0, ...)"),
        ("gaussian_blur", {"p": 2}, "p must be a probability in [0, 1]"),
    ],
)
def test_bad_arguments_are_refused_naming_them(name, kwargs, words):
    with pytest.raises(ValueError) as info:
        ep.create_augmentation(name, **kwargs)
    assert words in str(info.value)

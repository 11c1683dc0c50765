"""random_erasing: per-sample rectangles as timm's RandomErasing draws them, values that normalise to timm's."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp
from timm.data.random_erasing import RandomErasing as TimmRandomErasing

import effl_plugins as ep
from effl_plugins.train.inputs import ModelInput

SIZE = 32


def _normalised(**kwargs):
    """Our op on already normalised float batches: timm's setting."""
    return ep.create_augmentation("random_erasing", mean=0.0, std=1.0, clip=False, **kwargs)


def _ours_fractions(mode: str, max_count: int, images: int = 2000) -> np.ndarray:
    aug = _normalised(p=1.0, mode=mode, max_count=max_count)
    out, _ = aug(torch.ones(images, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(0))
    return (out != 1).all(1).flatten(1).float().mean(1).numpy()


def _timm_fractions(mode: str, max_count: int, images: int = 2000) -> np.ndarray:
    random.seed(0)
    torch.manual_seed(0)
    timm_aug = TimmRandomErasing(probability=1.0, mode=mode, max_count=max_count, device="cpu")
    out = timm_aug(torch.ones(images, 3, SIZE, SIZE))
    return (out != 1).all(1).flatten(1).float().mean(1).numpy()


def test_each_sample_gets_its_own_rectangle():
    aug = ep.create_augmentation("random_erasing", p=1.0)
    aug(torch.zeros(16, 3, SIZE, SIZE, dtype=torch.uint8), generator=torch.Generator().manual_seed(0))
    boxes = aug.last_params["box"][:, 0]
    assert len({tuple(b) for b in boxes.tolist()}) > 12


def test_the_same_seed_gives_the_same_batch_and_another_seed_another():
    aug = ep.create_augmentation("random_erasing", p=1.0, mode="pixel", max_count=3)
    x = torch.randint(0, 256, (8, 3, SIZE, SIZE), dtype=torch.uint8)
    first, _ = aug(x, generator=torch.Generator().manual_seed(5))
    again, _ = aug(x, generator=torch.Generator().manual_seed(5))
    other, _ = aug(x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("count", [1, 3])
def test_rectangles_lie_inside_the_image_with_their_area_in_the_scale_range(count):
    aug = ep.create_augmentation("random_erasing", p=1.0, min_count=count, max_count=count)
    aug(torch.zeros(4000, 1, SIZE, SIZE, dtype=torch.uint8), generator=torch.Generator().manual_seed(1))
    top, left, tall, wide = aug.last_params["box"].flatten(0, 1).T
    erased = tall > 0
    assert erased.float().mean() > 0.95  # most draws fit within 10 tries
    top, left, tall, wide = top[erased], left[erased], tall[erased], wide[erased]
    assert bool(((top >= 0) & (left >= 0) & (top + tall <= SIZE) & (left + wide <= SIZE)).all())
    assert bool(((tall < SIZE) & (wide < SIZE)).all())
    low, high = 0.02 * SIZE * SIZE / count, SIZE * SIZE / 3 / count
    assert bool(((tall + 0.5) * (wide + 0.5) >= low).all()) and bool(((tall - 0.5) * (wide - 0.5) <= high).all())
    ratio = tall.double() / wide.double()
    assert ratio.min() < 0.5 and ratio.max() > 2.0  # log-uniform aspect ratio over (0.3, 3.3)


@pytest.mark.parametrize("max_count", [1, 3])
def test_the_erased_fraction_is_distributed_as_timms(max_count):
    ours, theirs = _ours_fractions("const", max_count), _timm_fractions("const", max_count)
    assert ks_2samp(ours, theirs).pvalue > 1e-3
    assert abs(ours.mean() - theirs.mean()) < 0.01


def test_probability_and_count_are_timms():
    aug = _normalised(p=0.3, max_count=4)
    aug(torch.ones(4000, 3, SIZE, SIZE), generator=torch.Generator().manual_seed(2))
    boxes = (aug.last_params["box"][..., 2] > 0).sum(1)
    assert abs((boxes > 0).float().mean() - 0.3) < 0.03
    counts = torch.bincount(boxes[boxes > 0], minlength=5)[1:].double()
    assert bool(((counts / counts.sum() - 0.25).abs() < 0.04).all())  # 1..4 rectangles, uniform


@pytest.mark.parametrize("mode", ["rand", "pixel"])
def test_rand_and_pixel_values_are_standard_normal_like_timms(mode):
    aug = _normalised(p=1.0, mode=mode)
    out, _ = aug(torch.full((500, 3, SIZE, SIZE), 7.0), generator=torch.Generator().manual_seed(3))
    values = out[out != 7.0]
    assert abs(values.mean()) < 0.05 and abs(values.std() - 1) < 0.05
    per_box = out[:, :, :, :][(out != 7.0).all(1, keepdim=True).expand_as(out)].view(-1)
    assert per_box.numel() == values.numel()  # every channel of an erased pixel is erased
    if mode == "rand":  # one colour per rectangle: an erased image holds at most 3 distinct erased values
        assert all(torch.unique(img[img != 7.0]).numel() <= 3 for img in out[:50])


def test_const_is_zero_after_the_models_normalisation():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    aug = ep.create_augmentation("random_erasing", p=1.0, mean=mean, std=std, clip=False)
    images = torch.randint(0, 256, (64, 3, SIZE, SIZE), dtype=torch.uint8)
    erased, _ = aug(images.float() / 255, generator=torch.Generator().manual_seed(4))
    normalised = ModelInput(mean, std)(erased)
    inside = (erased != images.float() / 255).any(1, keepdim=True).expand_as(erased)
    assert inside.any() and normalised[inside].abs().max() < 1e-5


def test_uint8_values_are_the_mean_colour_rounded():
    aug = ep.create_augmentation("random_erasing", p=1.0)
    out, _ = aug(torch.zeros(8, 3, SIZE, SIZE, dtype=torch.uint8), generator=torch.Generator().manual_seed(0))
    colours = {tuple(out[i, :, y, x].tolist()) for i, y, x in (out.amax(1) > 0).nonzero().tolist()}
    assert colours == {(124, 116, 104)}


def test_the_image_backend_erases_like_timm():
    aug = ep.create_augmentation("random_erasing", backend="image", p=1.0, max_count=2)
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    rng = np.random.default_rng(0)
    fractions = np.array([(aug(img, rng=rng) > 0).any(2).mean() for _ in range(2000)])
    assert ks_2samp(fractions, _timm_fractions("const", 2)).pvalue > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"p": 1.5}, "p must be a probability in [0, 1], got 1.5"),
        ({"scale": (0.5, 0.1)}, "scale must be a pair (low, high)"),
        ({"ratio": (0, 1)}, "ratio must be a pair (low, high)"),
        ({"mode": "zeros"}, "mode must be one of"),
        ({"min_count": 0}, "min_count must be an integer >= 1, got 0"),
        ({"min_count": 2, "max_count": 1}, "max_count must be an integer >= 2, got 1"),
        ({"mean": (0.5, 0.5)}, "mean must be a number or 1 or 3 numbers"),
        ({"std": 0}, "std must be a number or 1 or 3 numbers > 0"),
        ({"clip": "yes"}, "clip must be True or False"),
    ],
)
def test_bad_arguments_are_refused_naming_them(kwargs, words):
    with pytest.raises(ValueError) as info:
        ep.create_augmentation("random_erasing", **kwargs)
    assert words in str(info.value)

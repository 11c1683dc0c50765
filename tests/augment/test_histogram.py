"""equalize and auto_contrast: per-sample, per-channel histograms and ranges, PIL's tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

import effl_plugins as ep
from effl_plugins.augment.functional.histogram import equalize_luts

seeds = st.integers(0, 2**31 - 1)


def _images(seed: int, low: int = 0, high: int = 256, batch: int = 4, size=(10, 12)) -> torch.Tensor:
    return torch.randint(low, high, (batch, 3, *size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _non_decreasing_maps(x: torch.Tensor, y: torch.Tensor) -> bool:
    """y is a non-decreasing function of x in every sample and channel."""
    xs, order = x.flatten(2).long().sort(dim=-1)
    ys = y.flatten(2).long().gather(-1, order)
    same_input = xs.diff(dim=-1) == 0
    return bool((ys.diff(dim=-1) >= 0).all() and (ys.diff(dim=-1)[same_input] == 0).all())


@settings(max_examples=25, deadline=None)
@given(seed=seeds, low=st.integers(0, 200), width=st.integers(1, 56))
def test_equalize_is_monotone_and_spreads_the_range(seed, low, width):
    x = _images(seed, low, low + width)
    y, _ = ep.create_augmentation("equalize", p=1.0)(x)
    assert _non_decreasing_maps(x, y)
    counts = torch.stack([torch.bincount(c.flatten(), minlength=256) for c in x.flatten(0, 1)])
    step = (x[0, 0].numel() - counts.gather(1, x.flatten(2).amax(-1).flatten().long()[:, None])) // 255
    stretched = (step > 0).view(4, 3)
    assert (y.flatten(2).amin(-1)[stretched] == 0).all() and (y.flatten(2).amax(-1)[stretched] == 255).all()
    assert torch.equal(y[~stretched], x[~stretched])  # nearly constant channels are kept, as PIL does


@settings(max_examples=15, deadline=None)
@given(seed=seeds, low=st.integers(0, 128), width=st.integers(2, 128))
def test_equalize_equals_pil(seed, low, width):
    x = _images(seed, low, low + width, batch=2, size=(20, 16))
    y, _ = ep.create_augmentation("equalize", p=1.0)(x)
    image_op = ep.create_augmentation("equalize", backend="image", p=1.0)
    for i in range(2):
        img = x[i].permute(1, 2, 0).numpy().copy()
        pil = np.asarray(ImageOps.equalize(Image.fromarray(img)))
        np.testing.assert_array_equal(y[i].permute(1, 2, 0).numpy(), pil)
        np.testing.assert_array_equal(image_op(img), pil)


def test_equalize_tables_are_per_sample_and_channel():
    x = _images(0)
    x[1, 2] = 9  # one constant channel
    luts = equalize_luts(x)
    assert luts.shape == (4, 3, 256) and luts.dtype == torch.uint8
    assert torch.equal(luts[1, 2], torch.arange(256, dtype=torch.uint8))
    for b in range(4):
        for c in range(3):
            if (b, c) != (1, 2):
                assert torch.equal(luts[b, c], equalize_luts(x[b : b + 1, c : c + 1])[0, 0])


@settings(max_examples=25, deadline=None)
@given(seed=seeds, low=st.integers(0, 254), width=st.integers(1, 60), as_float=st.booleans())
def test_auto_contrast_stretches_each_channel_to_the_full_range(seed, low, width, as_float):
    x = _images(seed, low, min(low + width, 256))
    x = x.float() / 255 if as_float else x
    y, _ = ep.create_augmentation("auto_contrast", p=1.0)(x)
    top = 1.0 if as_float else 255
    lo, hi = x.flatten(2).amin(-1), x.flatten(2).amax(-1)
    varied = hi > lo
    # uint8: (hi - lo) / ((hi - lo) * float32(1/255)) truncates to 254 for some ranges, as in torchvision
    assert (y.flatten(2).amin(-1)[varied] == 0).all() and (
        y.flatten(2).amax(-1)[varied] >= (top if as_float else 254)
    ).all()
    assert torch.equal(y.flatten(2)[~varied], x.flatten(2)[~varied])
    if not varied.any():
        return
    expected = (x.double() - lo.double()[..., None, None]) / (hi - lo).double().clamp(min=1e-12)[..., None, None] * top
    if as_float:
        torch.testing.assert_close(y.double()[varied], expected[varied], atol=1e-6, rtol=0)
    else:
        assert (y.double()[varied] - expected[varied].floor()).abs().max() <= 1  # float32 rounding before truncation


def test_float_equalize_stays_in_range_and_unapplied_samples_are_untouched():
    x = _images(3, 100, 140, size=(32, 32)).float() / 255  # enough pixels for PIL's step > 0
    aug = ep.create_augmentation("equalize")
    y, _ = aug(x, generator=torch.Generator().manual_seed(1))
    applied = aug.last_params["applied"]
    assert y.min() >= 0 and y.max() <= 1
    assert torch.equal(y[~applied], x[~applied]) and not torch.equal(y[applied], x[applied])


@settings(max_examples=30, deadline=None)
@given(seed=seeds, low=st.integers(0, 255), width=st.integers(0, 255), batch=st.integers(1, 40))
def test_equalize_tables_by_numpy_equal_the_tensor_tables(seed, low, width, batch):
    from effl_plugins.augment.functional import histogram

    x = _images(seed, low, min(low + width, 255) + 1, batch=batch, size=(5, 7))
    x[0, 0] = x[0, 0, 0, 0]  # a constant channel
    small = histogram.equalize_luts(x)  # NumPy up to _NUMPY_TABLE_ROWS channels
    with pytest.MonkeyPatch.context() as m:
        m.setattr(histogram, "_NUMPY_TABLE_ROWS", -1)
        tensor = histogram.equalize_luts(x)
        m.setattr(histogram, "_NUMPY_TABLE_ROWS", 1 << 20)
        numpy = histogram.equalize_luts(x)
    assert torch.equal(tensor, numpy) and torch.equal(small, tensor)


def test_auto_contrast_tables_by_numpy_equal_the_tensor_map_for_every_range():
    from effl_plugins.augment.auto_contrast import stretch, stretch_tables

    low, high = torch.triu_indices(256, 256)  # every 0 <= low <= high <= 255
    low, high = low.to(torch.uint8).view(-1, 1, 1, 1), high.to(torch.uint8).view(-1, 1, 1, 1)
    ramp = torch.arange(256, dtype=torch.uint8).expand(len(low), 1, 1, 256)
    tensor_tables = stretch(ramp, low, high, torch.ones(len(low), dtype=torch.bool)).view(-1, 256)
    numpy_tables = stretch_tables(low.view(-1).numpy().astype(np.float32), high.view(-1).numpy().astype(np.float32))
    np.testing.assert_array_equal(numpy_tables, tensor_tables.numpy())
    constant = (low == high).view(-1).numpy()
    assert (numpy_tables[constant] == np.arange(256)).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_auto_contrast_maps_applied_samples_by_their_ranges_and_keeps_the_others(channels):
    x = torch.randint(
        30, 200, (9, channels, 6, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(channels)
    )
    x[2] = 64  # a constant sample
    aug = ep.create_augmentation("auto_contrast", p=0.6)
    y, _ = aug(x, generator=torch.Generator().manual_seed(1))
    applied = aug.last_params["applied"]
    image_op = ep.create_augmentation("auto_contrast", p=1.0, backend="image")
    for i in applied.nonzero().flatten().tolist():  # the image backend's tables, sample by sample
        img = x[i].permute(1, 2, 0).numpy().copy()
        np.testing.assert_array_equal(y[i].permute(1, 2, 0).numpy(), image_op(img).reshape(img.shape))
    assert 0 < int(applied.sum()) < 9 and torch.equal(y[~applied], x[~applied])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels_last", [False, True])
def test_float_equalize_is_the_uint8_equalize_of_its_levels_over_255(dtype, channels_last):
    """A float image is equalized through its uint8 levels: the result is the uint8 op's output divided by 255 in
    the image's dtype, bit for bit, where applied (all applied, or some), the input elsewhere; any memory layout."""
    from effl_plugins.augment.equalize import equalize, to_uint8

    images = torch.rand(4, 3, 9, 11, generator=torch.Generator().manual_seed(3), dtype=dtype)
    if channels_last:
        images = images.to(memory_format=torch.channels_last)
    before = images.clone()
    for applied in (torch.ones(4, dtype=torch.bool), torch.tensor([True, False, True, False])):
        out = equalize(images, applied)
        levels = equalize(to_uint8(images), torch.ones(4, dtype=torch.bool))
        expected = torch.where(applied.view(-1, 1, 1, 1), levels.to(dtype) / 255, images)
        assert out.dtype == dtype and torch.equal(out, expected)
    assert torch.equal(images, before)

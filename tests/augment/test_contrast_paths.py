"""Contrast's CPU paths equal the formulas they replace, bit for bit, for the same generator state: the uint8 mean
grey (one float32 sum, NumPy's form with its multiplication for the floor), the per-sample tables (NumPy's truncation)
applied by translation, the float luma accumulated in place, the factor draw at p = 1 (the coin drawn without its
comparison), and the byte translation of a batch; random inputs, uint8 and float, p < 1 and p = 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import effl_plugins as ep
from effl_plugins.augment.base import bernoulli, uniform
from effl_plugins.augment.contrast import _TEN_THOUSANDTH, blend_with_grey, contrast_tables, mean_grey
from effl_plugins.augment.functional.enhance import LUMA_WEIGHTS, blend, luma
from effl_plugins.augment.functional.lut import truncate_to_uint8
from effl_plugins.augment.kernels.lut import apply_lut, identity_luts
from effl_plugins.augment.kernels.sample_tables import translate_samples

#: (B, C, H, W): the bench's small calls, one channel, odd sizes, one pixel, and a size past the float32 exact sum
SHAPES = [(8, 3, 32, 32), (56, 3, 32, 32), (3, 1, 7, 9), (2, 3, 1, 1), (4, 3, 13, 17), (1, 3, 257, 257)]


def _images(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Random images with flat samples at both ends of the range (0 and the top) among them."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
    images[0] = 0
    if shape[0] > 1:
        images[1] = 255
    return images if dtype == torch.uint8 else images.to(dtype).div_(255)


def _old_luma(images: torch.Tensor) -> torch.Tensor:
    """The float luma as one expression, the form before the in-place accumulation."""
    r, g, b = images.unbind(1)
    return (r * LUMA_WEIGHTS[0] + g * LUMA_WEIGHTS[1] + b * LUMA_WEIGHTS[2]).unsqueeze(1)


def _old_mean_grey(images: torch.Tensor) -> torch.Tensor:
    """The mean grey level as before: a float64 sum of the uint8 grey levels, rounded to float32."""
    if images.dtype != torch.uint8:
        grey = _old_luma(images) if images.shape[1] == 3 else images
        return grey.mean(dim=(1, 2, 3), keepdim=True)
    grey = luma(images)
    return (grey.sum(dim=(1, 2, 3), keepdim=True, dtype=torch.float64) / grey[0].numel()).to(torch.float32)


def _old_tables(mean: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each sample's uint8 table as before: the uint8 ramp blended in float32 and truncated by torch."""
    ramp = identity_luts(mean.shape[0], 1, mean.device).unsqueeze(2).to(torch.float32)
    return truncate_to_uint8(blend(ramp, mean, factor.to(torch.float32).view(-1, 1, 1, 1))).view(-1, 256)


def _old_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Contrast as before: the uint8 tables through ``apply_lut``, float images blended with their mean."""
    mean = _old_mean_grey(images)
    if images.dtype == torch.uint8:
        return apply_lut(images, _old_tables(mean, factor).unsqueeze(1).expand(-1, images.shape[1], -1))
    return blend_with_grey(images, mean, factor)


def _old_factor(max_delta: float, p: float, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The enhance ops' factor draw as before: a uniform factor, a Bernoulli coin, 1 where the coin fails."""
    batch = images.shape[0]
    factor = uniform((batch,), 1 - max_delta, 1 + max_delta, images.device, generator)
    applied = bernoulli((batch,), p, images.device, generator)
    return torch.where(applied, factor, torch.ones_like(factor))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_uint8_mean_grey_equals_the_float64_sum(shape, layout):
    for seed in range(3):
        images = _images(shape, torch.uint8, seed)
        if layout == "channels_last":  # not contiguous: the torch form
            images = images.contiguous(memory_format=torch.channels_last)
        out = mean_grey(images)
        assert out.dtype == torch.float32 and out.shape == (shape[0], 1, 1, 1)
        assert torch.equal(out, _old_mean_grey(images))


def test_float32_quotient_equals_the_float64_one_rounded_to_float32():
    for pixels in [*range(1, 300), 1023, 1024, 1025, 4095, 9999, 65535, (2**24 - 1) // 255]:
        sums = torch.arange(0, 255 * pixels + 1, dtype=torch.float32)  # every sum the grey levels can reach
        assert torch.equal(sums / pixels, (sums.double() / pixels).float()), pixels


def test_the_multiplication_floors_every_luma_sum_as_the_division():
    sums = np.arange(0, 255 * 9999 + 1, dtype=np.int64)  # 2989 + 5870 + 1140 = 9999
    quotient = sums // 10000
    assert np.array_equal(np.floor(sums.astype(np.float32) * _TEN_THOUSANDTH).astype(np.int64), quotient)
    assert np.array_equal(np.floor(sums.astype(np.float32) / np.float32(10000)).astype(np.int64), quotient)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_luma_in_place_equals_the_expression(dtype):
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(6, 3, 11, 13, generator=generator, dtype=dtype) * 3 - 1  # out of [0, 1] too
    images.view(-1)[::5] = -0.0
    out, expected = luma(images), _old_luma(images)
    assert torch.equal(out, expected) and torch.equal(out.signbit(), expected.signbit())


def test_tables_equal_torch_truncation():
    generator = torch.Generator().manual_seed(2)
    mean = torch.cat([torch.tensor([0.0, 255.0, 127.5]), torch.rand(253, generator=generator) * 255]).view(-1, 1, 1, 1)
    factor = torch.cat([torch.tensor([0.0, 2.0, 1.0]), torch.rand(253, generator=generator) * 2])
    tables = contrast_tables(mean, factor)
    assert tables.dtype == torch.uint8 and torch.equal(tables, _old_tables(mean, factor))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("p", [0.5, 1.0])
@pytest.mark.parametrize("shape", SHAPES[:5])
def test_contrast_equals_the_old_formula_for_the_same_generator(dtype, p, shape):
    for seed in range(3):
        images = _images(shape, dtype, seed)
        aug = ep.create_augmentation("contrast", max_delta=1.0, p=p)  # factors in [0, 2]: tables clip at both ends
        mine, theirs = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        out, _ = aug(images, generator=mine)
        factor = _old_factor(1.0, p, images, theirs)
        assert torch.equal(aug.last_params["factor"], factor)
        assert out.dtype == dtype and torch.equal(out, _old_contrast(images, factor))
        assert torch.equal(torch.rand(4, generator=mine), torch.rand(4, generator=theirs))  # the same state after


@pytest.mark.parametrize("name", ["contrast", "color", "sharpness"])
@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_enhance_factor_draw_and_generator_state_are_unchanged(name, p):
    images = _images((7, 3, 8, 8), torch.uint8, 0)
    aug = ep.create_augmentation(name, max_delta=0.4, p=p)
    mine, theirs = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(aug.sample_params(images, mine)["factor"], _old_factor(0.4, p, images, theirs))
    assert torch.equal(torch.rand(4, generator=mine), torch.rand(4, generator=theirs))


def test_contrast_of_a_non_contiguous_uint8_batch_goes_through_apply_lut():
    images = _images((5, 3, 9, 9), torch.uint8, 3).contiguous(memory_format=torch.channels_last)
    factor = torch.rand(5, generator=torch.Generator().manual_seed(0)) * 2
    out, _ = ep.create_augmentation("contrast")(images, params={"factor": factor})
    assert torch.equal(out, _old_contrast(images.contiguous(), factor))


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (5, 3, 7, 9), (56, 3, 32, 32), (3, 1, 64, 64)])
def test_translate_samples_is_each_sample_through_its_table(shape):
    generator = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
    tables = torch.randint(0, 256, (shape[0], 256), dtype=torch.uint8, generator=generator)
    expected = torch.gather(tables, 1, images.view(shape[0], -1).long()).view(shape)
    assert torch.equal(translate_samples(images, tables), expected)
    assert torch.equal(translate_samples(images, tables[:1].expand(shape[0], 256)), tables[0][images.long()])
    assert translate_samples(images[:0], tables[:0]).shape == (0, *shape[1:])

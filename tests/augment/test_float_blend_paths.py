"""The float CPU forms of invert and contrast equal the single-pass formulas they replace, bit for bit."""

import pytest
import torch

from effl_plugins.augment.contrast import blend_with_grey
from effl_plugins.augment.functional.enhance import blend
from effl_plugins.augment.invert import invert_chosen

SHAPES = [(56, 3, 32, 32), (3, 1, 8, 8), (2, 3, 224, 224), (4, 3, 7, 7)]


def _reference_invert(images: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
    chosen = applied.view(-1, 1, 1, 1)
    scale = torch.where(chosen, -1.0, 1.0).to(images.dtype)
    offset = torch.where(chosen, 1.0, -0.0).to(images.dtype)
    return torch.addcmul(offset, images, scale)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    kind = torch.int32 if a.dtype == torch.float32 else torch.int64
    return a.shape == b.shape and torch.equal(a.contiguous().view(kind), b.contiguous().view(kind))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["all", "none", "some"])
def test_invert_rows_equal_the_addcmul_form(dtype, shape, mode):
    generator = torch.Generator().manual_seed(len(shape) + shape[0])
    images = torch.rand(shape, generator=generator, dtype=dtype)
    images.view(-1)[::7] = -0.0  # signed zeros must come back as they were where not applied
    images.view(-1)[1::7] = 1.0
    applied = {
        "all": torch.ones(shape[0], dtype=torch.bool),
        "none": torch.zeros(shape[0], dtype=torch.bool),
        "some": torch.rand(shape[0], generator=generator) < 0.5,
    }[mode]
    out = invert_chosen(images, applied)
    assert _same_bits(out, _reference_invert(images, applied))
    assert out.data_ptr() != images.data_ptr()


def test_invert_rows_of_a_non_contiguous_batch():
    images = torch.rand(4, 8, 8, 3).permute(0, 3, 1, 2)
    applied = torch.tensor([True, False, True, True])
    assert _same_bits(invert_chosen(images, applied), _reference_invert(images, applied))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("shape", SHAPES)
def test_contrast_blend_equals_the_single_addcmul(dtype, shape):
    generator = torch.Generator().manual_seed(shape[0])
    images = torch.rand(shape, generator=generator).to(dtype)
    mean = torch.rand(shape[0], 1, 1, 1, generator=generator).to(dtype)
    factor = torch.rand(shape[0], generator=generator) * 2
    expected = blend(images, mean, factor.to(dtype).view(-1, 1, 1, 1)).clamp_(0, 1)
    out = blend_with_grey(images, mean, factor)
    assert out.dtype == dtype and torch.equal(out, expected)
    assert not ((out != expected) | (out.signbit() != expected.signbit())).any()

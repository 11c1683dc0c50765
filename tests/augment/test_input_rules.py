"""The input rules of augment/base.py, over every registered augmentation: empty batches come back
empty, non-finite float input is refused, zero-sized images are refused, targets are counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import effl_plugins as ep

#: Arguments an op cannot do without.
REQUIRED = {"cutmix": {"num_classes": 5}, "mixup": {"num_classes": 5}, "compose": {"ops": ["flip", "rotate"]}}
BATCH_OPS = ep.list_augmentations(backend="batch")
IMAGE_OPS = ep.list_augmentations(backend="image")


def batch_op(name, **kwargs):
    return ep.create_augmentation(name, **{**REQUIRED.get(name, {}), **kwargs})


def mixes(aug) -> bool:
    return bool(getattr(aug, "mixes_samples", False)) or getattr(aug, "num_classes", None) is not None


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32], ids=["uint8", "float32"])
@pytest.mark.parametrize("name", BATCH_OPS)
def test_an_empty_batch_comes_back_empty(name, dtype):
    aug = batch_op(name)
    images = torch.zeros(0, 3, 12, 10, dtype=dtype)
    targets = torch.zeros(0, dtype=torch.long)
    out, out_targets = aug(images, targets, generator=torch.Generator().manual_seed(0))
    size = getattr(aug, "size", None) or (12, 10)
    assert out.shape == (0, 3, *size) and out.dtype == dtype and out.device == images.device
    if mixes(aug):
        assert out_targets.shape == (0, 5) and out_targets.dtype.is_floating_point
    else:
        assert out_targets is targets


@pytest.mark.parametrize("size", [4, (6, 3)])
@pytest.mark.parametrize("name", ["crop", "random_resized_crop"])
def test_an_empty_batch_through_a_sized_crop_has_the_crop_size(name, size):
    out, _ = batch_op(name, size=size)(torch.zeros(0, 1, 12, 10))
    assert out.shape == (0, 1, *((size, size) if isinstance(size, int) else size))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", BATCH_OPS)
def test_non_finite_float_input_is_refused(name, value):
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    images[1, 2, 5, 3] = value
    with pytest.raises(ValueError, match=r"images must be finite: got 1 NaN or infinite values in a torch.float32"):
        batch_op(name)(images, torch.tensor([0, 1]))


@pytest.mark.parametrize("name", BATCH_OPS)
def test_finite_float_and_uint8_input_at_the_range_ends_is_accepted(name):
    aug = batch_op(name)
    ends = (torch.tensor([0.0, 1.0]), torch.tensor([0, 255], dtype=torch.uint8))
    for images in (end.repeat(2, 3, 4, 2) for end in ends):
        out, _ = aug(images, torch.tensor([0, 1]), generator=torch.Generator().manual_seed(1))
        assert out.dtype == images.dtype and (not out.dtype.is_floating_point or torch.isfinite(out).all())


@pytest.mark.parametrize("shape", [(2, 3, 0, 5), (2, 3, 5, 0), (0, 3, 0, 0)])
@pytest.mark.parametrize("name", BATCH_OPS)
def test_batch_images_of_zero_height_or_width_are_refused(name, shape):
    with pytest.raises(ValueError, match=r"images must be at least 1x1 pixels, got shape"):
        batch_op(name)(torch.zeros(shape), torch.zeros(shape[0], dtype=torch.long))


@pytest.mark.parametrize("name", [n for n in BATCH_OPS if not mixes(batch_op(n))])
def test_targets_of_another_length_are_refused_by_ops_that_do_not_mix(name):
    aug, images = batch_op(name), torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"targets must have one entry per image \(4\), got \(3,\)"):
        aug(images, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"targets must have one entry per image \(4\), got length 5"):
        aug(images, [0, 1, 2, 3, 4])
    _, kept = aug(images, [0, 1, 2, 3])
    assert kept == [0, 1, 2, 3]


@pytest.mark.parametrize("shape", [(0, 0, 3), (0, 7, 3), (7, 0, 3), (0, 0)])
@pytest.mark.parametrize("name", IMAGE_OPS)
def test_image_backend_ops_refuse_a_zero_sized_image(name, shape):
    aug = ep.create_augmentation(
        name, backend="image", **{k: v for k, v in REQUIRED.get(name, {}).items() if k != "num_classes"}
    )
    with pytest.raises(ValueError, match=r"img must be at least 1x1 pixels, got shape"):
        aug(np.zeros(shape, np.uint8), 0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_the_finiteness_check_is_exact_when_the_sum_overflows(dtype):
    from effl_plugins.augment.base import check_images

    huge = torch.full((2, 3, 16, 16), torch.finfo(dtype).max / 2, dtype=dtype)  # finite values, overflowing sum
    assert check_images(huge) is huge
    huge[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="got 1 NaN or infinite values"):
        check_images(huge)
    huge[1, 0, 0, 0], huge[0, 2, 3, 4], huge[0, 2, 3, 5] = 0, float("inf"), float("-inf")
    with pytest.raises(ValueError, match="got 2 NaN or infinite values"):
        check_images(huge)


@pytest.mark.parametrize(
    "magnitude, sign, message",
    [
        ([0.5, float("nan")], [1.0, 1.0], "magnitude must lie in"),
        ([0.5, 1.5], [1.0, -1.0], "magnitude must lie in"),
        ([0.5, 0.5], [1.0, 0.0], "sign must hold"),
    ],
)
def test_batch_magnitudes_and_signs_are_checked_by_name(magnitude, sign, message):
    op = ep.create_augmentation("contrast")
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match=message):
        op.params_from_magnitude(x, torch.tensor(magnitude), torch.tensor(sign))
    params = op.params_from_magnitude(x, torch.tensor([0.0, 1.0]), torch.tensor([-1.0, 1.0]))
    assert torch.allclose(params["factor"], torch.tensor([1.0, 1.9]))

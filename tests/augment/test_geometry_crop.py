"""crop and random_resized_crop: exact slices, cv2.resize / torchvision resized_crop alignment, the RRC sampler."""

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


def as_image(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy().copy()


def as_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(1, 12), w=st.integers(1, 12), padding=st.integers(0, 3))
def test_sized_random_crop_is_a_slice_of_the_padded_image(seed, h, w, padding):
    x = sample_batch(torch.uint8, batch=5, size=12, seed=seed % 97)
    aug = ep.create_augmentation("crop", size=(h, w), padding=padding, fill=77)
    y, _ = aug(x, generator=torch.Generator().manual_seed(seed))
    assert y.shape == (5, 3, h, w)
    padded = torch.nn.functional.pad(x, (padding,) * 4, value=77)
    for i, (top, left, bh, bw) in enumerate(aug.last_params["box"].long().tolist()):
        assert (bh, bw) == (h, w) and -padding <= top <= 12 + padding - h and -padding <= left <= 12 + padding - w
        assert torch.equal(y[i], padded[i, :, top + padding : top + padding + h, left + padding : left + padding + w])


def test_random_boxes_differ_per_sample_and_cover_all_offsets():
    x = torch.zeros(400, 1, 6, 6, dtype=torch.uint8)
    aug = ep.create_augmentation("crop", size=4)
    aug(x, generator=torch.Generator().manual_seed(0))
    corners = {tuple(b[:2]) for b in aug.last_params["box"].long().tolist()}
    assert corners == {(top, left) for top in range(3) for left in range(3)}


@pytest.mark.parametrize("size", [(8, 8), (7, 10), (20, 3)])
def test_center_crop_matches_torchvision(size):
    x = sample_batch(torch.uint8, batch=2, size=21)
    y, _ = ep.create_augmentation("crop", size=size, mode="center")(x)
    assert torch.equal(y, TF.center_crop(x, list(size)))


@pytest.mark.parametrize(
    "interpolation, mode",
    [("bilinear", TF.InterpolationMode.BILINEAR), ("nearest", TF.InterpolationMode.NEAREST_EXACT)],
)
def test_resized_crop_matches_torchvision_and_opencv(interpolation, mode):
    x = sample_batch(torch.uint8, batch=6, size=24, seed=8)
    for name, kwargs in (("crop", {"fraction": 0.6}), ("random_resized_crop", {"size": (16, 20)})):
        aug = ep.create_augmentation(name, interpolation=interpolation, **kwargs)
        image = ep.create_augmentation(name, backend="image", interpolation=interpolation, **kwargs)
        y, _ = aug(x, generator=torch.Generator().manual_seed(2))
        for i, box in enumerate(aug.last_params["box"]):
            top, left, h, w = (int(v) for v in box)
            tv = TF.resized_crop(x[i], top, left, h, w, list(y.shape[-2:]), interpolation=mode, antialias=False)
            cv = as_tensor(image(as_image(x[i]), params={"box": box.numpy()}))
            assert (tv.int() - y[i].int()).abs().max() <= 1 and (cv.int() - y[i].int()).abs().max() <= 1


def test_crop_matrix_agrees_with_the_resampling_inside_the_box():
    x = sample_batch(torch.float32, batch=4, size=16, seed=9)
    aug = ep.create_augmentation("random_resized_crop", size=12)
    y, _ = aug(x, generator=torch.Generator().manual_seed(4))
    warped = warp_affine(x, aug.matrix_from_params(aug.last_params, 16, 16), "bilinear", size=(12, 12))
    torch.testing.assert_close(warped[..., 2:-2, 2:-2], y[..., 2:-2, 2:-2], atol=1e-5, rtol=0)


def test_random_resized_crop_boxes_follow_scale_and_ratio():
    x = torch.zeros(2000, 1, 40, 40, dtype=torch.uint8)
    aug = ep.create_augmentation("random_resized_crop", scale=(0.2, 0.6), ratio=(0.5, 2.0))
    aug(x, generator=torch.Generator().manual_seed(0))
    top, left, h, w = aug.last_params["box"].T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 40).all() and (left + w <= 40).all()
    area, ratio = h * w / 1600, w / h
    # rounding the sides moves area and ratio a little beyond the sampled ranges
    assert area.min() > 0.17 and area.max() < 0.65 and ratio.min() > 0.45 and ratio.max() < 2.2
    assert 0.35 < area.mean() < 0.45 and len(set(map(tuple, aug.last_params["box"].tolist()))) > 500


def _boxes_drawn_in_turn(batch, height, width, scale, ratio, generator):
    """The sampler written out with its three draws in turn: ten areas, ten aspects, two corners a sample."""
    area = (scale[0] + (scale[1] - scale[0]) * torch.rand(batch, 10, generator=generator)) * (height * width)
    log_low, log_high = np.log(ratio[0]), np.log(ratio[1])
    aspect = torch.exp(log_low + (log_high - log_low) * torch.rand(batch, 10, generator=generator))
    box_w, box_h = torch.round(torch.sqrt(area * aspect)), torch.round(torch.sqrt(area / aspect))
    fits = (box_w > 0) & (box_w <= width) & (box_h > 0) & (box_h <= height)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)
    box_h, box_w = box_h.gather(1, first).squeeze(1), box_w.gather(1, first).squeeze(1)
    corner = torch.rand(batch, 2, generator=generator)
    top = torch.minimum(torch.floor(corner[:, 0] * (height - box_h + 1)), height - box_h)
    left = torch.minimum(torch.floor(corner[:, 1] * (width - box_w + 1)), width - box_w)
    return torch.stack([top, left, box_h, box_w], -1), fits.any(1)


@pytest.mark.parametrize("batch", [1, 8, 57])
@pytest.mark.parametrize("scale,ratio", [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.6, 1.0), (0.2, 5.0))])
def test_random_resized_crop_boxes_are_the_three_draws_in_turn(batch, scale, ratio):
    aug = ep.create_augmentation("random_resized_crop", size=16, scale=scale, ratio=ratio)
    for seed in range(4):
        aug(torch.zeros(batch, 3, 23, 37, dtype=torch.uint8), generator=torch.Generator().manual_seed(seed))
        expected, fits = _boxes_drawn_in_turn(batch, 23, 37, scale, ratio, torch.Generator().manual_seed(seed))
        assert torch.equal(aug.last_params["box"][fits], expected[fits])


def test_random_resized_crop_falls_back_to_the_clamped_centre_box():
    x = torch.zeros(3, 1, 10, 40, dtype=torch.uint8)
    aug = ep.create_augmentation("random_resized_crop", scale=(1.0, 1.0), ratio=(1.0, 1.0))
    aug(x, generator=torch.Generator().manual_seed(0))  # a 20x20 square never fits a 10x40 image
    assert aug.last_params["box"].tolist() == [[0.0, 15.0, 10.0, 10.0]] * 3
    image = ep.create_augmentation("random_resized_crop", backend="image", scale=(1.0, 1.0), ratio=(1.0, 1.0))
    image(np.zeros((10, 40, 3), np.uint8), rng=0)
    assert image.last_params["box"].tolist() == [0.0, 15.0, 10.0, 10.0]


def test_random_resized_crop_image_backend_samples_the_same_distribution():
    aug = ep.create_augmentation("random_resized_crop", backend="image", scale=(0.2, 0.6), ratio=(0.5, 2.0), size=8)
    rng = np.random.default_rng(0)
    img = np.zeros((40, 40, 3), np.uint8)
    areas = []
    for _ in range(400):
        assert aug(img, rng=rng).shape == (8, 8, 3)
        top, left, h, w = aug.last_params["box"]
        areas.append(h * w / 1600)
    assert 0.35 < np.mean(areas) < 0.45 and min(areas) > 0.17


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("crop", {"size": 0}, "size must be None, a positive int"),
        ("crop", {"mode": "corner"}, "mode must be one of"),
        ("crop", {"fraction": 1.5}, r"fraction must be in \(0, 1\]"),
        ("crop", {"padding": -1}, "padding must be an integer >= 0"),
        ("random_resized_crop", {"scale": (0.0, 1.0)}, "scale must be a .*0 < low <= high"),
        ("random_resized_crop", {"scale": (0.9, 0.1)}, "scale must be a finite .*low <= high"),
        ("random_resized_crop", {"ratio": (-1, 1)}, "ratio must be"),
        ("random_resized_crop", {"interpolation": "area"}, "interpolation must be one of"),
    ],
)
def test_bad_arguments(name, kwargs, match):
    for backend in ("batch", "image"):
        with pytest.raises(ValueError, match=match):
            ep.create_augmentation(name, backend=backend, **kwargs)


def test_crop_larger_than_the_image_is_refused():
    aug = ep.create_augmentation("crop", size=(10, 30), padding=2)
    with pytest.raises(ValueError, match=r"size \(10, 30\) is larger than the 8x8 image padded by 2.*\(12, 12\)"):
        aug(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="larger than"):
        ep.create_augmentation("crop", backend="image", size=9)(np.zeros((8, 8, 3), np.uint8))


def _random_boxes(generator: torch.Generator, batch: int, height: int, width: int) -> torch.Tensor:
    """``[B, 4]`` whole-pixel boxes inside a ``height x width`` image, edges included."""
    box_h = torch.randint(1, height + 1, (batch,), generator=generator).float()
    box_w = torch.randint(1, width + 1, (batch,), generator=generator).float()
    top = torch.floor(torch.rand(batch, generator=generator) * (height - box_h + 1))
    left = torch.floor(torch.rand(batch, generator=generator) * (width - box_w + 1))
    return torch.stack([top, left, box_h, box_w], -1)


def _with_special_values(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """float32 ``x`` with a fifth of its pixels NaN, +-inf or +-0 (whose signs and payloads must survive)."""
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 0.0])
    chosen = torch.rand(x.shape, generator=generator) < 0.2
    x[chosen] = specials[torch.randint(0, len(specials), (int(chosen.sum()),), generator=generator)]
    return x


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int32) if t.dtype == torch.float32 else t


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 4),
    channels=st.sampled_from([1, 3]),
    height=st.integers(1, 23),
    width=st.integers(1, 23),
    out_h=st.integers(1, 31),
    out_w=st.integers(1, 31),
    dtype=st.sampled_from([torch.uint8, torch.float32]),
    interpolation=st.sampled_from(["bilinear", "nearest"]),
    fill=st.sampled_from([0.0, 7.6, 300.0]),
)
def test_separable_resample_equals_the_per_pixel_reference_bit_for_bit(
    seed, batch, channels, height, width, out_h, out_w, dtype, interpolation, fill
):
    from effl_plugins.augment.crop import _axis_coordinates, resample_boxes
    from effl_plugins.augment.kernels.separable import separable_resample

    generator = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        x = torch.randint(0, 256, (batch, channels, height, width), generator=generator, dtype=torch.uint8)
    else:
        x = _with_special_values(torch.randn(batch, channels, height, width, generator=generator), generator)
    before = x.clone()
    boxes = _random_boxes(generator, batch, height, width)
    top, left, box_h, box_w = boxes.unbind(-1)
    src_x = _axis_coordinates(left, box_w, out_w, interpolation)
    src_y = _axis_coordinates(top, box_h, out_h, interpolation)
    got = separable_resample(x, src_x, src_y, interpolation, fill)
    expected = resample_boxes(x, boxes, (out_h, out_w), interpolation, fill)
    assert got is not None and got.dtype == expected.dtype and got.shape == expected.shape
    assert torch.equal(_bits(got), _bits(expected))
    assert torch.equal(_bits(x), _bits(before))  # the input is not written


def test_separable_resample_leaves_what_it_cannot_do_to_the_reference():
    from effl_plugins.augment.kernels.separable import separable_resample

    x = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    inside, outside = torch.arange(4.0).view(1, 4), torch.tensor([[-1.0, 0.0, 1.0, 2.0]])
    assert separable_resample(x, inside, inside, "bilinear") is not None
    assert separable_resample(x, outside, inside, "bilinear") is None
    assert separable_resample(x, inside, outside + 9, "nearest") is None
    assert separable_resample(x.double(), inside, inside, "bilinear") is None


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("shape, size", [((1, 3, 17, 13), (9, 21)), ((7, 1, 30, 30), None), ((5, 3, 64, 64), 64)])
def test_random_resized_crop_cpu_path_equals_the_general_resample(interpolation, dtype, shape, size):
    from effl_plugins.augment.crop import resample_boxes

    x = sample_batch(dtype, batch=shape[0], size=shape[2], seed=3)[:, : shape[1], :, : shape[3]].contiguous()
    aug = ep.create_augmentation("random_resized_crop", size=size, interpolation=interpolation)
    y, _ = aug(x, generator=torch.Generator().manual_seed(1))
    out_size = (size, size) if isinstance(size, int) else size or tuple(shape[2:])
    assert torch.equal(y, resample_boxes(x, aug.last_params["box"], out_size, interpolation))

"""Train and eval transforms against timm's own pipelines."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import timm
import timm.data
import torch
from PIL import Image
from scipy.stats import ks_2samp
from sklearn.datasets import load_sample_image
from timm.data.transforms import RandomResizedCropAndInterpolation

import effl_plugins as ep
from effl_plugins.data import DataConfig, eval_transform, resolve_data_config, rrc_params, train_transform

CFG = DataConfig((3, 32, 48), "bilinear", (0.5,) * 3, (0.25,) * 3, 0.875)


def _photos():
    china = load_sample_image("china.jpg")  # 427 x 640, landscape
    flower = load_sample_image("flower.jpg")
    return [china, np.ascontiguousarray(flower[:, 100:400]), china[13:200, 7:611]]  # landscape, portrait, odd sizes


@pytest.mark.parametrize("arch, img_size", [("resnet10t", None), ("test_vit", None), ("test_efficientnet", (72, 56))])
def test_eval_equals_timm_within_one_level(arch, img_size):
    cfg = resolve_data_config(timm.create_model(arch, pretrained=False), img_size=img_size)
    ours, theirs = eval_transform(cfg), timm.data.create_transform(**cfg.to_dict(), is_training=False)
    mean, std = torch.tensor(cfg.mean).view(3, 1, 1), torch.tensor(cfg.std).view(3, 1, 1)
    for photo in _photos():
        out = ours(photo)
        assert out.dtype == torch.uint8 and tuple(out.shape) == cfg.input_size
        reference = theirs(Image.fromarray(photo)).double() * std + mean  # un-normalised, 0..1
        assert (out.double() / 255 - reference).abs().max().item() <= 1 / 255 + 1e-6


def test_eval_resizes_shorter_side_by_crop_pct_then_centre_crops():
    # a horizontal ramp, 128 x 256: the shorter side goes to 32 / 0.5 = 64 (every 2nd column, nearest samples
    # pixel centres: column 2k + 1), 128 wide; the centre 32 columns are 48..79, i.e. source columns 97..159
    img = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 128, 0), 3, 2)  # 128 x 256
    cfg = DataConfig((3, 32, 32), "nearest", (0.0,) * 3, (1.0,) * 3, 0.5)
    out = eval_transform(cfg)(img)
    assert out[0, 0].tolist() == list(range(97, 161, 2))


def _timm_boxes(height, width, scale, ratio, n, seed):
    random.seed(seed)
    img = Image.new("RGB", (width, height))
    return np.array([RandomResizedCropAndInterpolation.get_params(img, scale, ratio) for _ in range(n)])


def _our_boxes(height, width, scale, ratio, n, seed):
    rng = np.random.default_rng(seed)
    return np.array([rrc_params(height, width, scale, ratio, rng) for _ in range(n)])


@pytest.mark.parametrize(
    "size, scale, ratio", [((375, 500), (0.08, 1.0), (3 / 4, 4 / 3)), ((200, 90), (0.3, 0.9), (0.5, 2.0))]
)
def test_rrc_samples_as_timm(size, scale, ratio):
    h, w = size
    ours, theirs = _our_boxes(h, w, scale, ratio, 3000, 0), _timm_boxes(h, w, scale, ratio, 3000, 0)
    for boxes in (ours, theirs):
        top, left, bh, bw = boxes.T
        assert (top >= 0).all() and (left >= 0).all() and (top + bh <= h).all() and (left + bw <= w).all()
    for stat in (
        lambda b: b[:, 2] * b[:, 3] / (h * w),
        lambda b: np.log(b[:, 3] / b[:, 2]),
        lambda b: (b[:, 0] + b[:, 2] / 2) / h,
        lambda b: (b[:, 1] + b[:, 3] / 2) / w,
    ):
        assert ks_2samp(stat(ours), stat(theirs)).pvalue > 1e-3
    area = ours[:, 2] * ours[:, 3] / (h * w)
    assert area.min() >= scale[0] * 0.95 and area.max() <= 1.0


@pytest.mark.parametrize("size", [(10, 1000), (1000, 10), (50, 60)])
def test_rrc_fallback_is_timms_centre_crop(size):
    scale, ratio = (0.9, 1.0), (0.99, 1.0)  # a 50 x 60 image cannot hold a near-square box of 90 % area
    expected = _timm_boxes(*size, scale, ratio, 1, 0)[0]
    assert tuple(_our_boxes(*size, scale, ratio, 1, 0)[0]) == tuple(expected)


def test_train_transform_shape_flip_and_identity_crop():
    img = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    no_flip = train_transform(CFG, hflip=0.0)(img, np.random.default_rng(5))
    flip = train_transform(CFG, hflip=1.0)(img, np.random.default_rng(5))
    assert no_flip.dtype == torch.uint8 and no_flip.shape == (3, 32, 48)
    assert torch.equal(flip, no_flip.flip(-1))
    exact = img[:32, :48]
    whole = train_transform(CFG, scale=(1.0, 1.0), ratio=(1.5, 1.5), hflip=0.0)(exact, np.random.default_rng(1))
    assert torch.equal(whole, torch.from_numpy(exact).permute(2, 0, 1))


def test_train_transform_is_a_function_of_the_generator():
    aug = ep.create_augmentation("rand_augment", backend="image", num_ops=2, magnitude=9)
    t = train_transform(CFG, image_aug=aug)
    photo = _photos()[0]
    a, b = t(photo, np.random.default_rng(3)), t(photo, np.random.default_rng(3))
    assert torch.equal(a, b) and not torch.equal(a, t(photo, np.random.default_rng(4)))


def test_train_transform_crop_content_comes_from_the_box():
    # each pixel's value encodes its column; the output's columns must be an increasing slice of the box
    img = np.repeat(np.repeat(np.arange(200, dtype=np.uint8)[None, :, None], 100, 0), 3, 2)
    cfg = DataConfig((3, 20, 20), "nearest", (0.0,) * 3, (1.0,) * 3, 1.0)
    rng = np.random.default_rng(11)
    top, left, h, w = rrc_params(100, 200, (0.08, 1.0), (3 / 4, 4 / 3), np.random.default_rng(11))
    out = train_transform(cfg, hflip=0.0)(img, rng)[0].numpy().astype(int)
    assert (out >= left - 1).all() and (out <= left + w).all() and (np.diff(out[0]) >= 0).all()
    assert math.isclose(out[0, -1] - out[0, 0], w * 19 / 20, abs_tol=w / 10 + 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"scale must satisfy 0 < lo <= hi <= 1.0, got \(0.0, 1.0\)"):
        train_transform(CFG, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"ratio must satisfy 0 < lo <= hi, got \(2.0, 1.0\)"):
        train_transform(CFG, ratio=(2.0, 1.0))
    with pytest.raises(ValueError, match="hflip must be a probability in \\[0, 1\\], got 1.5"):
        train_transform(CFG, hflip=1.5)
    with pytest.raises(TypeError, match="image_aug must be a callable"):
        train_transform(CFG, image_aug="rand_augment")
    with pytest.raises(TypeError, match="cfg must be a DataConfig"):
        eval_transform({"input_size": (3, 8, 8)})
    with pytest.raises(TypeError, match=r"H x W x 3 uint8 RGB numpy array, got float32 \(8, 8, 3\)"):
        eval_transform(CFG)(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(TypeError, match="got uint8 \\(8, 8\\)"):
        train_transform(CFG)(np.zeros((8, 8), np.uint8), np.random.default_rng(0))

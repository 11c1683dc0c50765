"""RandAugment's translate and solarize equal torchvision's ``transforms.v2.RandAugment`` at every magnitude bin:
the op is forced through the transform's own ``_apply_image_or_video_transform`` with the magnitude it would draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

import effl_plugins as ep
from effl_plugins.augment.auto.magnitude import bin_value
from effl_plugins.augment.solarize import solarize_level, solarize_level_image


def _torchvision(image: torch.Tensor, name: str, bin_: int, sign: float) -> torch.Tensor:
    """What ``v2.RandAugment`` gives when it draws op ``name`` at magnitude bin ``bin_`` with this sign."""
    tv = v2.RandAugment()
    height, width = image.shape[-2:]
    magnitude = float(tv._AUGMENTATION_SPACE[name][0](31, height, width)[bin_]) * sign
    return tv._apply_image_or_video_transform(image, name, magnitude, interpolation=tv.interpolation, fill=tv._fill)


def _ours(images: torch.Tensor, name: str, bin_: int, sign: float, backend: str) -> torch.Tensor:
    batch = ep.create_augmentation("rand_augment", num_ops=1)
    k = batch.op_names.index(name)
    magnitude = torch.full((len(images), 1), bin_ / 30.0)
    if backend == "image":
        image = ep.create_augmentation("rand_augment", backend="image", num_ops=1)
        params = {"ops": np.array([k]), "magnitude": magnitude[0].numpy(), "sign": np.array([sign], dtype=np.float32)}
        return torch.stack(
            [
                torch.from_numpy(image(img.permute(1, 2, 0).numpy().copy(), params=params)).permute(2, 0, 1)
                for img in images
            ]
        )
    params = {
        "ops": torch.full((len(images), 1), k),
        "magnitude": magnitude,
        "sign": torch.full((len(images), 1), sign),
    }
    return batch(images, params=params)[0]


def test_bin_value_is_torch_linspace_at_every_bin():
    bins = torch.arange(31) / 30.0
    for start, end in [(0.0, 150 / 331 * 17), (0.0, 150 / 331 * 224), (1.0, 0.0), (0.0, 32.0), (0.0, 0.9), (0.0, 0.3)]:
        assert torch.equal(bin_value(start, end, bins), torch.linspace(start, end, 31))


@pytest.mark.parametrize("backend", ["batch", "image"])
@pytest.mark.parametrize("name, size", [("TranslateX", (19, 45)), ("TranslateY", (67, 23)), ("TranslateX", (224, 224))])
def test_translate_matches_torchvision_at_every_bin_and_sign(name, size, backend):
    image = torch.randint(1, 256, (1, 3, *size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ours_name = "translate_x" if name == "TranslateX" else "translate_y"
    for bin_ in range(31):
        for sign in (1.0, -1.0):
            expected = _torchvision(image[0], name, bin_, sign)
            assert torch.equal(_ours(image, ours_name, bin_, sign, backend)[0], expected), (bin_, sign)


@pytest.mark.parametrize("backend", ["batch", "image", "float"])
def test_solarize_matches_torchvision_at_every_bin(backend):
    ramp = (
        torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(1, 3, 16, 16).contiguous()
    )  # every uint8 value
    image = ramp.float() / 255 if backend == "float" else ramp
    for bin_ in range(31):
        expected = _torchvision(image[0], "Solarize", bin_, 1.0)
        got = _ours(image, "solarize", bin_, 1.0, "batch" if backend == "float" else backend)[0]
        assert torch.equal(got, expected), bin_


def test_solarize_level_is_the_float32_comparison():
    thresholds = torch.rand(2000, generator=torch.Generator().manual_seed(0))
    levels = solarize_level(thresholds)
    values = torch.arange(257, dtype=torch.float32)
    for threshold, level in zip(thresholds.tolist(), levels.tolist()):
        cut = np.float32(threshold * 255.0)  # torchvision: uint8 tensor >= Python float, compared in float32
        assert level == float(values[values >= cut][0]) == solarize_level_image(threshold)

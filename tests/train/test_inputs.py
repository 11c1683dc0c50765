"""ModelInput: the uint8 batch to a model's normalisation and size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from effl_plugins.data import DataConfig
from effl_plugins.train import ModelInput

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _batch(size=8, seed=0):
    return torch.randint(0, 256, (3, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _reference(x):
    mean, std = torch.tensor(MEAN, dtype=torch.float64), torch.tensor(STD, dtype=torch.float64)
    return (x.double() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def test_normalisation_equals_the_float64_formula():
    images = _batch()
    out = ModelInput(MEAN, STD)(images)
    assert out.dtype == torch.float32 and out.shape == images.shape
    torch.testing.assert_close(out.double(), _reference(images), rtol=0, atol=1e-6)
    floats = ModelInput(MEAN, STD)(images.float() / 255)  # float input is on the 0..1 scale
    torch.testing.assert_close(floats.double(), _reference(images), rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
def test_resizes_to_its_size_before_normalising(mode):
    images = _batch(12)
    out = ModelInput(MEAN, STD, (20, 16), interpolation=mode)(images)
    assert out.shape == (3, 3, 20, 16)
    kwargs = {"antialias": True, "align_corners": False} if mode != "nearest" else {}
    resized = F.interpolate(images.float(), size=(20, 16), mode=mode, **kwargs)
    torch.testing.assert_close(out.double(), _reference(resized), rtol=0, atol=1e-5)
    same = ModelInput(MEAN, STD, (12, 12), interpolation=mode)(images)  # already at size: untouched
    torch.testing.assert_close(same.double(), _reference(images), rtol=0, atol=1e-6)


def test_channels_last_and_from_config():
    config = DataConfig((3, 10, 14), "bicubic", MEAN, STD, 0.9)
    model_input = ModelInput.from_config(config, channels_last=True)
    out = model_input(_batch(8))
    assert out.shape == (3, 3, 10, 14) and out.is_contiguous(memory_format=torch.channels_last)
    assert model_input.mode == "bicubic"
    assert ModelInput.from_config(config.to_dict()).size == (10, 14)
    assert not ModelInput(MEAN, STD)(_batch()).is_contiguous(memory_format=torch.channels_last)


def test_refuses_a_non_positive_std():
    with pytest.raises(ValueError, match="std must be > 0"):
        ModelInput(MEAN, (0.2, 0.0, 0.2))

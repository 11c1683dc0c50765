"""brightness: the seeds' add-and-clip, per sample and per channel, on both backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.testing import sample_batch


def test_uint8_adds_rounded_delta_and_clips():
    aug = ep.create_augmentation("brightness")
    x = torch.tensor([0, 10, 128, 250, 255], dtype=torch.uint8).view(1, 1, 1, 5).expand(2, 3, 1, 5).contiguous()
    delta = torch.tensor([[0.1, -0.1, 0.0], [1.0, -1.0, 0.02]])
    y, _ = aug(x, params={"delta": delta})
    expected = (x.to(torch.int32) + torch.round(delta * 255).to(torch.int32)[:, :, None, None]).clamp(0, 255)
    assert torch.equal(y, expected.to(torch.uint8))
    assert y[0, 0, 0, 3] == 255 and y[0, 1, 0, 0] == 0  # saturates, never wraps


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), max_delta=st.floats(0, 1), float_input=st.booleans())
def test_monotone_and_in_range(seed, max_delta, float_input):
    """Brightness is a clipped shift: it preserves the order of pixel values and the valid range."""
    aug = ep.create_augmentation("brightness", max_delta=max_delta)
    ramp = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(4, 3, 16, 16).contiguous()
    x = ramp.float() / 255 if float_input else ramp
    y, _ = aug(x, generator=torch.Generator().manual_seed(seed))
    flat = y.flatten(2).float()
    assert (flat.diff(dim=-1) >= 0).all(), "brightness must be monotone in the input (no wrap-around)"
    assert flat.min() >= 0 and flat.max() <= (1 if float_input else 255)


def test_per_channel_flag():
    x = torch.full((8, 3, 4, 4), 100, dtype=torch.uint8)
    per_channel = ep.create_augmentation("brightness", per_channel=True)
    shared = ep.create_augmentation("brightness", per_channel=False)
    d1 = per_channel.sample_params(x, torch.Generator().manual_seed(0))["delta"]
    d2 = shared.sample_params(x, torch.Generator().manual_seed(0))["delta"]
    assert not torch.allclose(d1[:, 0], d1[:, 1])
    assert torch.equal(d2[:, 0], d2[:, 1]) and torch.equal(d2[:, 1], d2[:, 2])


def test_probability_zero_is_identity_and_one_changes_every_sample():
    x = sample_batch(torch.uint8, batch=16)
    y, _ = ep.create_augmentation("brightness", p=0.0)(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, y)
    y, _ = ep.create_augmentation("brightness", p=1.0, max_delta=0.5)(x, generator=torch.Generator().manual_seed(0))
    assert all(not torch.equal(x[i], y[i]) for i in range(16))


@pytest.mark.parametrize("per_channel", [True, False])  # a saturating add per channel, one shared lookup table
def test_batch_equals_image_backend_for_same_params(per_channel):
    batch = ep.create_augmentation("brightness", max_delta=0.4, per_channel=per_channel)
    image = ep.create_augmentation("brightness", backend="image", max_delta=0.4, per_channel=per_channel)
    x = sample_batch(torch.uint8, batch=5)
    y, _ = batch(x, generator=torch.Generator().manual_seed(7))
    for i in range(5):
        img = x[i].permute(1, 2, 0).numpy().copy()
        out = image(img, params={"delta": batch.last_params["delta"][i].numpy()})
        np.testing.assert_array_equal(out, y[i].permute(1, 2, 0).numpy())


def test_image_backend_grayscale_and_seeding():
    aug = ep.create_augmentation("brightness", backend="image")
    img = np.arange(64, dtype=np.uint8).reshape(8, 8)
    out = aug(img, rng=1)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out, aug(img, rng=1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_delta": -0.1}, "max_delta"),
        ({"max_delta": 2}, "max_delta"),
        ({"p": 1.5}, "probability"),
        ({"p": -0.1}, "probability"),
    ],
)
def test_bad_arguments(kwargs, match):
    for backend in ("batch", "image"):
        with pytest.raises(ValueError, match=match):
            ep.create_augmentation("brightness", backend=backend, **kwargs)


@pytest.mark.parametrize(
    "images, error, match",
    [
        (torch.zeros(3, 8, 8, dtype=torch.uint8), ValueError, "4-D"),
        (torch.zeros(2, 4, 8, 8, dtype=torch.uint8), ValueError, "channels"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.int32), TypeError, "uint8 or floating"),
        (np.zeros((2, 3, 8, 8), dtype=np.uint8), TypeError, "torch.Tensor"),
    ],
)
def test_bad_batch_input(images, error, match):
    with pytest.raises(error, match=match):
        ep.create_augmentation("brightness")(images)


def test_bad_image_input():
    aug = ep.create_augmentation("brightness", backend="image")
    with pytest.raises(TypeError, match="uint8"):
        aug(np.zeros((8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="H x W"):
        aug(np.zeros((8, 8, 5), dtype=np.uint8))


def test_replayed_params_must_match_batch():
    aug = ep.create_augmentation("brightness")
    with pytest.raises(ValueError, match="leading dimension 3"):
        aug(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), params={"delta": torch.zeros(3, 3)})

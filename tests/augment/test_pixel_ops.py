"""posterize, solarize, invert, identity: exact integer point ops and their algebraic properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.testing import sample_batch

seeds = st.integers(0, 2**31 - 1)


def _random(seed: int, batch: int = 4, as_float: bool = False) -> torch.Tensor:
    x = torch.randint(0, 256, (batch, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return x.float() / 255 if as_float else x


@settings(max_examples=30, deadline=None)
@given(seed=seeds, bits=st.lists(st.integers(1, 8), min_size=4, max_size=4), as_float=st.booleans())
def test_posterize_keeps_the_top_bits_and_is_idempotent(seed, bits, as_float):
    x, bits = _random(seed, as_float=as_float), torch.tensor(bits)
    aug = ep.create_augmentation("posterize")
    once, _ = aug(x, params={"bits": bits})
    twice, _ = aug(once, params={"bits": bits})
    assert torch.equal(once, twice)
    if as_float:
        levels = 2.0 ** bits.double().view(-1, 1, 1, 1)
        expected = torch.where(
            levels >= 256, x.double(), torch.minimum(torch.floor(x.double() * levels), levels - 1) / levels
        )
        torch.testing.assert_close(once.double(), expected, atol=1e-7, rtol=0)
    else:
        dropped = (2 ** (8 - bits)).view(-1, 1, 1, 1)
        assert torch.equal(once.long(), x.long() // dropped * dropped)


def test_posterize_samples_bits_per_sample_and_eight_is_the_identity():
    x = sample_batch(torch.uint8, batch=32)
    aug = ep.create_augmentation("posterize", bits=(2, 8))
    aug(x, generator=torch.Generator().manual_seed(0))
    assert set(aug.last_params["bits"].tolist()) == set(range(2, 9))
    assert torch.equal(aug(x, params={"bits": torch.full((32,), 8)})[0], x)
    assert torch.equal(ep.create_augmentation("posterize", bits=3, p=0.0)(x)[0], x)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, thresholds=st.lists(st.floats(0, 1), min_size=4, max_size=4), as_float=st.booleans())
def test_solarize_inverts_at_or_above_the_threshold(seed, thresholds, as_float):
    x, threshold = _random(seed, as_float=as_float), torch.tensor(thresholds)
    y, _ = ep.create_augmentation("solarize")(
        x, params={"threshold": threshold, "applied": torch.ones(4, dtype=torch.bool)}
    )
    top = 1.0 if as_float else 255
    level = threshold.double().view(-1, 1, 1, 1) * top
    if not as_float:  # torchvision's rule: the float64 product rounded to float32 (255 / 3 -> 85.0000015)
        level = level.float().double()
    expected = torch.where(x.double() >= level, top - x.double(), x.double())
    torch.testing.assert_close(y.double(), expected, atol=1e-7, rtol=0)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, threshold=st.floats(0.51, 1.0))
def test_solarize_above_half_is_idempotent(seed, threshold):
    """Above half range, inverted values fall below the threshold: a second pass changes nothing."""
    x, aug = _random(seed), ep.create_augmentation("solarize", threshold=threshold)
    once, _ = aug(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(aug(once, params=aug.last_params)[0], once)


def test_solarize_at_zero_is_invert_and_unapplied_is_identity():
    x = _random(0)
    on, off = torch.ones(4, dtype=torch.bool), torch.zeros(4, dtype=torch.bool)
    aug = ep.create_augmentation("solarize")
    assert torch.equal(aug(x, params={"threshold": torch.zeros(4), "applied": on})[0], 255 - x)
    assert torch.equal(aug(x, params={"threshold": torch.zeros(4), "applied": off})[0], x)
    full = aug(x, params={"threshold": torch.ones(4), "applied": on})[0]  # only 255 flips, to 0
    assert torch.equal(full, torch.where(x == 255, 0, x).to(torch.uint8))


@settings(max_examples=30, deadline=None)
@given(seed=seeds, as_float=st.booleans())
def test_invert_twice_is_the_identity(seed, as_float):
    x = _random(seed, as_float=as_float)
    aug = ep.create_augmentation("invert", p=1.0)
    once, _ = aug(x)
    twice, _ = aug(once)
    if as_float:
        torch.testing.assert_close(twice, x, atol=1e-7, rtol=0)
    else:
        assert torch.equal(twice, x) and torch.equal(once, 255 - x)


def test_invert_probability_picks_samples():
    x = _random(1, batch=64)
    aug = ep.create_augmentation("invert")
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    applied = aug.last_params["applied"]
    assert 10 < int(applied.sum()) < 54  # p = 0.5 by default
    assert torch.equal(y[applied], 255 - x[applied]) and torch.equal(y[~applied], x[~applied])
    assert ep.create_augmentation("invert", p=1.0).deterministic and not aug.deterministic


def test_identity_returns_its_input_on_both_backends():
    x = _random(2)
    aug = ep.create_augmentation("identity")
    y, targets = aug(x, torch.arange(4))
    assert y is x and aug.last_params == {} and targets.tolist() == [0, 1, 2, 3]
    img = x[0].permute(1, 2, 0).numpy().copy()
    out = ep.create_augmentation("identity", backend="image")(img)
    assert np.array_equal(out, img) and out is not img


@pytest.mark.parametrize("name, kwargs", [("posterize", {"bits": 3}), ("solarize", {}), ("invert", {})])
def test_image_backend_grayscale(name, kwargs):
    img = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    out = ep.create_augmentation(name, backend="image", p=1.0, **kwargs)(img, rng=0)
    assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)

"""The CPU fast paths of flip, invert and solarize equal the whole-batch ``torch.where`` formulas they replace, bit
for bit, on every dtype, batch size, image size and channel count, and never change their input."""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep
from effl_plugins.augment.invert import invert
from effl_plugins.augment.kernels.sample_tables import translate_samples
from effl_plugins.augment.solarize import solarize_level

DTYPES = [torch.uint8, torch.float32, torch.float64, torch.float16]
SHAPES = [(1, 1, 1, 1), (1, 3, 5, 7), (6, 1, 9, 4), (9, 3, 13, 11), (5, 3, 8, 16)]
PROBABILITIES = [0.0, 0.5, 1.0]


def batch(shape, dtype, seed=0) -> torch.Tensor:
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return x if dtype == torch.uint8 else (x.double() / 255).to(dtype)


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal dtypes, shapes and bytes (so -0.0 and 0.0 differ)."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(bits(a), bits(b))


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.uint8)


def where_flip(x, params):
    out = torch.where(params["horizontal"].view(-1, 1, 1, 1), x.flip(-1), x)
    return torch.where(params["vertical"].view(-1, 1, 1, 1), out.flip(-2), out)


def where_invert(x, params):
    return torch.where(params["applied"].view(-1, 1, 1, 1), invert(x), x)


def where_solarize(x, params):
    applied = params["applied"].view(-1, 1, 1, 1)
    if x.dtype == torch.uint8:
        level = solarize_level(params["threshold"]).view(-1, 1, 1, 1)
        hit = (x >= level.clamp(max=255).to(torch.uint8)) & applied & (level <= 255)
    else:
        hit = (x >= params["threshold"].to(x.dtype).view(-1, 1, 1, 1)) & applied
    return torch.where(hit, invert(x), x)


CASES = {
    "flip": ({"direction": "horizontal"}, where_flip),
    "hflip": ({}, where_flip),
    "vflip": ({}, where_flip),
    "flip-both": ({"name": "flip", "direction": "both"}, where_flip),
    "invert": ({}, where_invert),
    "solarize": ({"threshold": (0.0, 1.0)}, where_solarize),
}


def build(case: str, p: float):
    kwargs, reference = CASES[case]
    kwargs = dict(kwargs)
    return ep.create_augmentation(kwargs.pop("name", case), p=p, **kwargs), reference


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", PROBABILITIES)
def test_cpu_path_equals_the_where_formula(case, dtype, shape, p):
    aug, reference = build(case, p)
    for seed in range(3):
        x = batch(shape, dtype, seed)
        before = x.clone()
        out, _ = aug(x, generator=torch.Generator().manual_seed(seed))
        expected = reference(x, aug.last_params)
        assert same_bits(out, expected)
        assert torch.equal(x, before)  # the input is never modified
        assert out.data_ptr() != x.data_ptr()


@pytest.mark.parametrize("case", list(CASES))
def test_non_contiguous_input_takes_the_general_path(case):
    aug, reference = build(case, 0.5)
    x = batch((7, 3, 6, 5), torch.uint8).contiguous(memory_format=torch.channels_last)
    out, _ = aug(x, generator=torch.Generator().manual_seed(3))
    assert same_bits(out, reference(x, aug.last_params))


@pytest.mark.parametrize("case", ["flip-both", "invert", "solarize"])
def test_every_pattern_of_chosen_samples(case):
    """All 2**5 choices of five samples (runs at the start, the end, alternating, none, all)."""
    aug, reference = build(case, 0.5)
    x = batch((5, 3, 4, 6), torch.uint8)
    for pattern in range(32):
        chosen = torch.tensor([bool(pattern >> i & 1) for i in range(5)])
        params = {"horizontal": chosen, "vertical": chosen.roll(1)} if "flip" in case else {"applied": chosen}
        if case == "solarize":
            params["threshold"] = torch.linspace(0, 1, 5)
        out, _ = aug(x, params=params)
        assert same_bits(out, reference(x, params))


def test_solarize_levels_at_the_edges():
    """Thresholds 0 (every value inverted) and 1 (only 255), and the levels between two uint8 values."""
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(8, 3, 16, 16).contiguous()
    aug = ep.create_augmentation("solarize")
    threshold = torch.tensor([0.0, 1.0, 0.5, 128 / 255, 127.5 / 255, 1e-9, 1 - 1e-9, 0.25])
    params = {"threshold": threshold, "applied": torch.tensor([True] * 7 + [False])}
    out, _ = aug(x, params=params)
    assert torch.equal(out, where_solarize(x, params))


def test_translate_samples_looks_each_sample_up_in_its_table():
    x = torch.randint(0, 256, (3, 3, 5, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    tables = torch.randint(0, 256, (3, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = translate_samples(x, tables)
    assert torch.equal(out, torch.stack([tables[i][x[i].long()] for i in range(3)]))
    with pytest.raises(ValueError, match="contiguous uint8 CPU"):
        translate_samples(x.float(), tables)

"""Augmentation SPEC strings: call syntax, timm's RandAugment strings, building, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from timm.data.auto_augment import rand_augment_transform

import effl_plugins as ep
from effl_plugins.augment.auto.rand_augment import RandAugment
from effl_plugins.augment.auto.trivial_augment import TrivialAugment
from effl_plugins.augment.compose import Compose, ComposeImage
from effl_plugins.augment.spec import SpecTerm, build_augmentation, parse_spec


def test_call_syntax_parses_names_literals_and_positions():
    assert parse_spec(" brightness(max_delta=0.2) + rotate(degrees=-15, fill=(1, 2, 3))+flip") == [
        SpecTerm("brightness", {"max_delta": 0.2}, 1),
        SpecTerm("rotate", {"degrees": -15, "fill": (1, 2, 3)}, 29),
        SpecTerm("flip", {}, 65),
    ]
    assert parse_spec("rand_augment(ops=['rotate', 'solarize'], magnitude=1e+1)") == [
        SpecTerm("rand_augment", {"ops": ["rotate", "solarize"], "magnitude": 10.0}, 0)
    ]  # '+' inside brackets and in '1e+1' does not split
    assert parse_spec("crop(mode='a+b')") == [SpecTerm("crop", {"mode": "a+b"}, 0)]


@pytest.mark.parametrize(
    "timm_string",
    [
        "rand-m9-n2-mstd0.5",
        "rand-m9-mstd0.5-inc1",
        "rand-m9-n3-mstd0.5",
        "rand-m7",
        "rand-n1",
        "rand",
        "rand-mstd101",
        "rand-m10-n4-mstd1-p1-mmax10",
        "rand-m0-n0",
        "rand-m3-mstd0",
    ],
)
def test_timm_strings_mean_what_timm_parses(timm_string):
    [term] = parse_spec(timm_string)
    reference = rand_augment_transform(timm_string, {})
    op = reference.ops[0]
    assert term.name == "rand_augment"
    assert term.kwargs.get("num_ops", 2) == reference.num_layers
    assert term.kwargs["magnitude"] == pytest.approx(3 * op.magnitude)  # timm's 0..10 onto our 0..30
    std = term.kwargs.get("magnitude_std", 0.0)
    assert std == (math.inf if math.isinf(op.magnitude_std) else pytest.approx(3 * op.magnitude_std))


def test_timm_string_builds_rand_augment_with_those_values():
    aug = build_augmentation("rand-m9-n3-mstd0.5")
    assert isinstance(aug, RandAugment) and (aug.num_ops, aug.magnitude, aug.magnitude_std) == (3, 27.0, 1.5)
    image = build_augmentation("rand-m9-n2", backend="image")
    assert isinstance(image, RandAugment) and image.backend == "image" and image.num_ops == 2
    assert isinstance(build_augmentation("trivial"), TrivialAugment)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rand-m9-p0.5", "'p0.5' has no equivalent"),
        ("rand-m9-inc0", "'inc0' has no equivalent"),
        ("rand-m9-mmax5", "'mmax' other than 10"),
        ("rand-m9-tweights", "op-set field 'tweights'"),
        ("rand-m11", "magnitude m must lie in [0, 10]"),
        ("rand-m.5x", "field 'm' needs a number"),
        ("rand-mx", "unknown RandAugment field 'mx'"),
        ("rand-n2.5", "field 'n' needs an integer"),
        ("rand-q3", "unknown RandAugment field 'q3'"),
        ("augmix-m5-w2.5", "AugMix field 'w' needs an integer, got '2.5'"),
        ("flip+augmix-z1", "unknown AugMix field 'z1'"),
        ("flip(p=x)", "argument 'p' at position 7 must be a Python literal"),
        ("flip(0.5)", "positional argument at position 5"),
        ("flip(**{'p': 1})", "'**' at position 5"),
        ("a.b", "term at position 0 must be NAME"),
        ("flip + ", "the '+' at position 5 has nothing"),
        ("+flip", "the '+' at position 0 has nothing"),
        ("flip++rotate", "the '+' at position 4 has nothing"),
        ("flip(p=1", "invalid syntax at position"),
        ("flip(p=__import__('os'))", "must be a Python literal"),
    ],
)
def test_bad_specs_name_the_spec_and_the_place(spec, message):
    with pytest.raises(ValueError) as info:
        parse_spec(spec)
    assert repr(spec) in str(info.value) and message in str(info.value)


def test_non_string_spec_is_a_type_error():
    with pytest.raises(TypeError, match="spec must be a str"):
        parse_spec(["flip"])


def test_unknown_names_and_arguments():
    with pytest.raises(ep.UnknownComponentError, match="did you mean 'brightness'"):
        build_augmentation("flip+brightnes")
    with pytest.raises(ep.UnknownComponentError, match="cutmix"):
        build_augmentation("cutmix(num_classes=3)", backend="image")  # no image backend
    with pytest.raises(TypeError, match="'max_delt' \\(did you mean 'max_delta'\\?\\).*max_delta=0.25"):
        build_augmentation("brightness(max_delt=0.2)")
    with pytest.raises(ValueError, match="backend must be"):
        build_augmentation("flip", backend="gpu")


def test_building():
    assert build_augmentation(None) is None and build_augmentation("  ") is None
    assert type(build_augmentation("flip(p=1.0)")).__name__ == "Flip"
    aug = build_augmentation("brightness(max_delta=0.2)+rotate(degrees=15)+flip")
    assert isinstance(aug, Compose) and [type(op).__name__ for op in aug.ops] == ["Brightness", "Rotate", "Flip"]
    assert aug.ops[0].max_delta == 0.2
    image = build_augmentation("brightness(max_delta=0.2)+flip", backend="image")
    assert isinstance(image, ComposeImage) and [(type(op).__name__, op.backend) for op in image.ops] == [
        ("Brightness", "image"),
        ("Flip", "image"),
    ]


def test_built_spec_equals_its_ops_in_order_under_one_generator():
    x = torch.randint(0, 256, (6, 3, 20, 20), dtype=torch.uint8)
    aug = build_augmentation("rand-m9-n2-mstd0.5+flip+brightness(max_delta=0.3)")
    out, _ = aug(x, generator=torch.Generator().manual_seed(5))
    again, _ = aug(x, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    expected = x
    for op in (
        ep.create_augmentation("rand_augment", num_ops=2, magnitude=27.0, magnitude_std=1.5),
        ep.create_augmentation("flip"),
        ep.create_augmentation("brightness", max_delta=0.3),
    ):
        expected, _ = op(expected, generator=g)
    assert torch.equal(out, again) and torch.equal(out, expected)
    img = np.ascontiguousarray(x[0].permute(1, 2, 0).numpy())
    image_aug = build_augmentation("trivial+flip", backend="image")
    assert np.array_equal(image_aug(img, rng=3), image_aug(img, rng=3))

"""augmix: timm's AugMix (Hendrycks et al. 2020) per sample on a batch, from AutoAugment's ops and level mapping."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import auto_augment as timm_aa

import effl_plugins as ep
from effl_plugins.augment.auto.augmix import AUGMIX_OPS, AugMix
from effl_plugins.augment.auto.auto_augment import LEVEL_TO_PARAMS, build_level_ops
from effl_plugins.augment.solarize import solarize_level
from effl_plugins.augment.spec import color_jitter_spec, parse_spec
from effl_plugins.testing import check_augmentation, check_image_augmentation, sample_batch

HPARAMS = {**timm_aa._HPARAMS_DEFAULT, "interpolation": Image.BILINEAR}
INCREASING = ("ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing")
OPS = build_level_ops(AUGMIX_OPS, "bilinear", (128 / 255,))["uint8"]


def test_the_op_set_is_timms_and_every_op_has_timms_level_mapping():
    assert list(AUGMIX_OPS) == timm_aa._AUGMIX_TRANSFORMS
    assert set(AUGMIX_OPS) <= set(LEVEL_TO_PARAMS)


def _params(name: str, level: float, sign: float) -> dict:
    op_name, to_params, _ = LEVEL_TO_PARAMS[name]
    images = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    t = torch.tensor
    return to_params(OPS[op_name], images, t([level]), t([sign]), t([0.0]))


@pytest.mark.parametrize("name", [*INCREASING, "SolarizeIncreasing"])
def test_the_increasing_levels_give_timms_arguments(name):
    for level in (0.0, 1.0, 3.0, 5.5, 10.0):
        for seed in (0, 1):
            random.seed(seed)
            sign = float(timm_aa._randomly_negate(1.0))
            random.seed(seed)
            theirs = timm_aa.LEVEL_TO_ARG[name](level, HPARAMS)[0]
            ours = _params(name, level, sign)
            if name == "SolarizeIncreasing":  # the first uint8 value inverted
                assert int(solarize_level(ours["threshold"].view(1))) == theirs
            else:
                assert float(ours["factor"].flatten()[0]) == pytest.approx(theirs, abs=1e-6)
    assert all(LEVEL_TO_PARAMS[name][2] for name in INCREASING) and not LEVEL_TO_PARAMS["SolarizeIncreasing"][2]


@pytest.mark.parametrize(("name", "level"), [("SolarizeIncreasing", 4), ("PosterizeIncreasing", 7)])
def test_the_increasing_point_ops_give_timms_pixels(name, level):
    image = sample_batch(torch.uint8, batch=1, size=24)
    theirs = timm_aa.AugmentOp(name, prob=1.0, magnitude=level, hparams=HPARAMS)
    expected = torch.from_numpy(np.array(theirs(Image.fromarray(image[0].permute(1, 2, 0).numpy()))))
    op = OPS[LEVEL_TO_PARAMS[name][0]]
    out, _ = op.apply(image, None, _params(name, float(level), 1.0))
    assert torch.equal(out[0], expected.permute(2, 0, 1))


def test_each_sample_draws_its_own_chains_and_a_seed_repeats_them():
    aug = AugMix(magnitude=5, width=3, depth=-1)
    x = sample_batch(torch.uint8, batch=1).expand(16, -1, -1, -1).contiguous()
    out, _ = aug(x, generator=torch.Generator().manual_seed(0))
    first = aug.last_params
    assert len({tuple(k.flatten().tolist()) for k in first["kind"]}) > 1
    assert len({tuple(out[i].flatten().tolist()) for i in range(16)}) > 1
    again, _ = aug(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and all(torch.equal(first[k], aug.last_params[k]) for k in first)


def test_the_draws_follow_timms_distributions():
    aug = AugMix(magnitude=5, width=3, depth=-1, alpha=1.0)
    params = aug.sample_params(torch.zeros(4000, 3, 1, 1, dtype=torch.uint8), torch.Generator().manual_seed(0))
    assert torch.allclose(params["weight"].sum(1), torch.ones(4000), atol=1e-5)
    assert float(params["weight"].mean()) == pytest.approx(1 / 3, abs=0.01)
    assert float(params["blend"].mean()) == pytest.approx(0.5, abs=0.02)  # Beta(1, 1)
    assert float(params["blend"].var()) == pytest.approx(1 / 12, abs=0.01)
    lengths = params["applied"].sum(-1).flatten()
    assert set(lengths.tolist()) == {1, 2, 3} and (params["applied"][..., 0]).all()
    assert torch.bincount(params["kind"].flatten(), minlength=13).min() > 0.8 * 4000 * 9 / 13
    assert float(params["level"].max()) <= 5 and float(params["level"].mean()) == pytest.approx(2.5, abs=0.05)
    fixed = AugMix(magnitude=4, magnitude_std=0).sample_params(torch.zeros(8, 3, 1, 1), None)
    assert torch.equal(fixed["level"], torch.full_like(fixed["level"], 4.0))


def _chain(x: torch.Tensor, name: str, level: float, sign: float) -> torch.Tensor:
    """One op at one level, run by the registered op with timm's level mapping (the hand-computed chain)."""
    op = OPS[LEVEL_TO_PARAMS[name][0]]
    return op.apply(x, None, _params(name, level, sign))[0]


def _draw(aug: AugMix, kinds: list[list[str]], weight: list[float], blend: float) -> dict:
    t = torch.tensor
    shape = (1, aug.width, aug.slots)
    return {
        "weight": t([weight]),
        "blend": t([blend]),
        "kind": t([[[AUGMIX_OPS.index(n) for n in chain] for chain in kinds]]),
        "applied": torch.ones(shape, dtype=torch.bool),
        "level": torch.full(shape, 6.0),
        "sign": torch.ones(shape),
    }


def test_a_fixed_draw_gives_the_hand_computed_mix():
    x = sample_batch(torch.uint8, batch=1, size=20)
    one = AugMix(width=1, depth=1)
    chain = _chain(x, "Rotate", 6.0, 1.0)
    assert torch.equal(one(x, params=_draw(one, [["Rotate"]], [1.0], 1.0))[0], chain)
    assert torch.equal(one(x, params=_draw(one, [["Rotate"]], [1.0], 0.0))[0], x)
    two = AugMix(width=2, depth=2)
    first = _chain(_chain(x, "Equalize", 6.0, 1.0), "ShearX", 6.0, 1.0)
    second = _chain(_chain(x, "SolarizeIncreasing", 6.0, 1.0), "ColorIncreasing", 6.0, 1.0)
    out, _ = two(
        x, params=_draw(two, [["Equalize", "ShearX"], ["SolarizeIncreasing", "ColorIncreasing"]], [0.3, 0.7], 0.6)
    )
    mixed = 0.3 * first.float() + 0.7 * second.float()
    expected = (0.4 * x.float() + 0.6 * mixed).round().to(torch.uint8)
    assert (out.int() - expected.int()).abs().max() <= 1  # float32 order of the sums


def _mean_change(images: list[np.ndarray], run, draws: int) -> float:
    return float(np.mean([np.abs(run(img).astype(np.float32) - img).mean() for img in images for _ in range(draws)]))


def test_the_mean_change_per_image_is_timms():
    """Over many draws on photos, the mean absolute change of an image is timm's AugMixAugment's (bilinear, grey
    fill) within 10%: timm truncates its mix twice, and PIL's resampling of the borders differs from ours."""
    from sklearn.datasets import load_sample_images

    images = [np.ascontiguousarray(img[::8, ::8][:48, :48]) for img in load_sample_images().images]
    theirs = timm_aa.augment_and_mix_transform("augmix-m5-w3-d2", dict(HPARAMS))
    random.seed(0)
    np.random.seed(0)
    timm_change = _mean_change(images, lambda img: np.array(theirs(Image.fromarray(img))), 150)
    ours = ep.create_augmentation("augmix", backend="image", magnitude=5, width=3, depth=2)
    rng = np.random.default_rng(0)
    our_change = _mean_change(images, lambda img: ours(img, rng=rng), 150)
    assert our_change == pytest.approx(timm_change, rel=0.1), (our_change, timm_change)


def test_the_image_backend_runs_the_batch_ops_on_its_draw():
    aug = ep.create_augmentation("augmix", backend="image", magnitude=5, width=2, depth=-1)
    img = sample_batch(torch.uint8, batch=1)[0].permute(1, 2, 0).numpy().copy()
    rng = np.random.default_rng(0)
    batch = AugMix(magnitude=5, width=2, depth=-1)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    for _ in range(5):
        params = aug.sample_params(img, rng)
        assert math.isclose(float(params["weight"].sum()), 1.0, abs_tol=1e-5)
        expected, _ = batch(x, params={k: torch.as_tensor(np.asarray(v))[None] for k, v in params.items()})
        assert np.array_equal(aug(img, params=params), expected[0].permute(1, 2, 0).numpy())


def test_conformance_checks_pass_on_both_backends():
    check_augmentation("augmix")
    check_augmentation("augmix", width=2, depth=3, magnitude=9)
    check_image_augmentation("augmix")


@pytest.mark.parametrize(
    ("spec", "kwargs"),
    [
        ("augmix", {}),
        ("augmix-m5-w3-d2", {"magnitude": 5, "width": 3, "depth": 2}),
        ("augmix-m9-mstd0.5-a0.5-b1", {"magnitude": 9, "magnitude_std": 0.5, "alpha": 0.5, "blended": True}),
    ],
)
def test_timm_strings_read_as_timm_reads_them(spec, kwargs):
    (term,) = parse_spec(spec)
    assert term.name == "augmix" and term.kwargs == kwargs
    theirs = timm_aa.augment_and_mix_transform(spec, dict(HPARAMS))
    ours = AugMix(**kwargs)
    assert (ours.width, ours.depth, ours.alpha) == (theirs.width, theirs.depth, theirs.alpha)
    assert ours.magnitude == theirs.ops[0].magnitude and ours.magnitude_std == theirs.ops[0].magnitude_std
    assert ours.blended == theirs.blended


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"magnitude": 11}, "magnitude must be in [0, 10]"),
        ({"width": 0}, "width must be an integer >= 1"),
        ({"depth": 0}, "depth must be -1"),
        ({"alpha": 0}, "alpha must be"),
        ({"magnitude_std": -1}, "magnitude_std must be"),
    ],
)
def test_bad_arguments_are_refused_naming_them(kwargs, words):
    with pytest.raises(ValueError) as info:
        AugMix(**kwargs)
    assert words in str(info.value)


def test_colour_jitter_is_refused_after_augmix_as_timm_turns_it_off():
    with pytest.raises(ValueError, match="after an auto-augment"):
        color_jitter_spec([0.4], "augmix-m5-w3-d2")

"""auto_augment: timm's AutoAugment policies (tables, level mapping, op results) run per sample on a batch."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import auto_augment as timm_aa

import effl_plugins as ep
from effl_plugins.augment.auto.auto_augment import LEVEL_TO_PARAMS, POLICIES, AutoAugment
from effl_plugins.augment.solarize import solarize_level
from effl_plugins.augment.spec import build_augmentation, parse_spec
from effl_plugins.cli import main
from effl_plugins.testing import sample_batch

HPARAMS = dict(timm_aa._HPARAMS_DEFAULT)
TIMM_NAMES = sorted({name for policy in POLICIES.values() for sub in policy for name, _, _ in sub})


@pytest.mark.parametrize("name", list(POLICIES))
def test_the_policy_tables_are_timms(name):
    theirs = timm_aa.auto_augment_policy(name, HPARAMS)
    assert POLICIES[name] == tuple(tuple((op.name, op.prob, op.magnitude) for op in sub) for sub in theirs)


#: every op of every policy, by our name (uint8 fill)
OPS = {name: op for policy in POLICIES for name, op in AutoAugment(policy)._ops["uint8"].items()}


def _ours(name: str, level: float, sign: float = 1.0, draw: float = 0.0, size=(20, 30)) -> dict:
    op_name, to_params, _ = LEVEL_TO_PARAMS[name]
    op = OPS[op_name]
    images = torch.zeros(1, 3, *size, dtype=torch.uint8)
    t = torch.tensor
    params = to_params(op, images, t([level]), t([sign]), t([draw]))
    return {key: value[0] for key, value in params.items()}


@pytest.mark.parametrize("name", TIMM_NAMES)
def test_each_level_gives_timms_argument(name):
    level_fn = timm_aa.LEVEL_TO_ARG[name]
    for level in [0.0, 1.0, 2.5, 3.0, 5.0, 7.0, 9.0, 10.0]:
        random.seed(0)
        theirs = abs(level_fn(level, HPARAMS)[0]) if level_fn is not None else None
        ours = _ours(name, level)
        if name in ("Rotate",):
            assert float(ours["angle"]) == pytest.approx(theirs, abs=1e-5)
        elif name in ("ShearX", "ShearY"):
            assert float(ours["shear"].abs().sum()) == pytest.approx(theirs, abs=1e-6)
        elif name.startswith("TranslateYRel"):
            assert float(ours["shift"].abs().sum()) / 20 == pytest.approx(theirs, abs=1e-6)
        elif name.startswith("Posterize"):
            assert int(ours["bits"]) == theirs
        elif name == "Solarize":  # the first uint8 value inverted
            assert int(solarize_level(ours["threshold"].view(1))) == theirs
        elif name == "SolarizeAdd":
            assert round(float(ours["add"]) * 255) == theirs and round(float(ours["threshold"]) * 255) == 128
        elif name in ("Color", "Contrast", "Brightness", "Sharpness"):
            assert float(ours["factor"].flatten()[0]) == pytest.approx(theirs, abs=1e-6)
        elif name == "Desaturate":  # timm's desaturate turns its argument into the colour factor 1 - arg
            assert float(ours["factor"]) == pytest.approx(min(1.0, max(0.0, 1.0 - theirs)), abs=1e-6)
        elif name == "GaussianBlurRand":  # radius ~ U(0.1, 2 * arg)
            assert float(_ours(name, level, draw=0.0)["sigma"]) == pytest.approx(0.1)
            assert float(_ours(name, level, draw=1.0)["sigma"]) == pytest.approx(2.0 * theirs, abs=1e-6)
        else:  # no level: the op runs at full strength
            assert theirs is None and bool(ours["applied"])


def test_signed_ops_are_timms_randomly_negated_ones():
    negated = {name for name in timm_aa.LEVEL_TO_ARG if name in TIMM_NAMES and _negates(name)}
    assert negated == {name for name in TIMM_NAMES if LEVEL_TO_PARAMS[name][2]}


def _negates(name: str) -> bool:
    level_fn = timm_aa.LEVEL_TO_ARG[name]
    if level_fn is None:
        return False
    values = set()
    for seed in range(20):
        random.seed(seed)
        values.add(level_fn(5.0, HPARAMS)[0] < 0)
    return len(values) == 2


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("Posterize", 6),
        ("PosterizeIncreasing", 6),
        ("PosterizeOriginal", 5),
        ("Solarize", 3),
        ("Solarize", 10),
        ("SolarizeAdd", 7),
        ("Invert", 4),
        ("Desaturate", 10),
    ],
)
def test_point_ops_give_timms_pixels(name, level):
    image = sample_batch(torch.uint8, batch=1, size=24)
    theirs = timm_aa.AugmentOp(name, prob=1.0, magnitude=level, hparams=HPARAMS)
    pil = Image.fromarray(image[0].permute(1, 2, 0).numpy())
    expected = torch.from_numpy(np.array(theirs(pil))).permute(2, 0, 1)
    op_name, to_params, _ = LEVEL_TO_PARAMS[name]
    op = OPS[op_name]
    t = torch.tensor
    out, _ = op.apply(image, None, to_params(op, image, t([float(level)]), t([1.0]), t([0.0])))
    diff = (out[0].int() - expected.int()).abs()
    assert int(diff.max()) <= (1 if name == "Desaturate" else 0)  # grey: PIL's integer weights, ours float


@pytest.mark.parametrize(("name", "level"), [("Rotate", 8), ("ShearX", 5), ("TranslateYRel", 9), ("Contrast", 8)])
def test_geometric_and_blend_ops_match_timms_but_for_edge_pixels(name, level):
    """A photo (bilinear, timm's grey fill): the same direction and amount; pixels differ by more than one level
    only along edges (PIL's resampling of the borders)."""
    from sklearn.datasets import load_sample_images

    img = np.ascontiguousarray(load_sample_images().images[0][::4, ::4])
    hparams = {**HPARAMS, "interpolation": Image.BILINEAR}
    random.seed(1)
    theirs = timm_aa.AugmentOp(name, prob=1.0, magnitude=level, hparams=hparams)(Image.fromarray(img))
    random.seed(1)
    sign = torch.tensor([-1.0 if timm_aa._randomly_negate(1.0) < 0 else 1.0])
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    op_name, to_params, _ = LEVEL_TO_PARAMS[name]
    ours = OPS[op_name].apply(x, None, to_params(OPS[op_name], x, torch.tensor([float(level)]), sign, sign * 0))[0]
    diff = (ours[0].int() - torch.from_numpy(np.array(theirs)).permute(2, 0, 1).int()).abs()
    assert float(diff.float().mean()) < 1.0 and float((diff > 1).float().mean()) < 0.02


def test_posterize_to_no_bits_is_black_as_timms_comment_says():
    """v0's ('Posterize', 0.8, 2) keeps int(0.8) = 0 bits: a black image (today's PIL refuses 0 bits)."""
    image = sample_batch(torch.uint8, batch=1, size=8)
    op_name, to_params, _ = LEVEL_TO_PARAMS["Posterize"]
    params = to_params(OPS[op_name], image, torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([0.0]))
    assert int(params["bits"][0]) == 0 and not OPS[op_name].apply(image, None, params)[0].any()


def test_sub_policies_and_op_probabilities_follow_the_table():
    aug = AutoAugment("original")
    params = aug.sample_params(torch.zeros(20000, 1, 1, 1, dtype=torch.uint8), torch.Generator().manual_seed(0))
    counts = torch.bincount(params["policy"], minlength=25).double()
    assert ((counts - 800) ** 2 / 800).sum() < 51.2  # chi-square, 24 dof: p = 0.001
    probs = torch.tensor([[op[1] for op in sub] for sub in POLICIES["original"]])[params["policy"]]
    assert (params["applied"].double().mean(0) - probs.double().mean(0)).abs().max() < 0.015
    assert bool((params["applied"][probs == 0] == 0).all()) and bool(params["applied"][probs == 1].all())
    signed = aug._signed[aug._kind[params["policy"]]]  # Rotate, ShearX
    assert abs(float((params["sign"][signed] < 0).double().mean()) - 0.5) < 0.03
    assert bool((params["sign"][~signed] == 1).all())


def test_magnitude_noise_is_timms():
    aug = AutoAugment("v0", magnitude_std=0.5)
    params = aug.sample_params(torch.zeros(4000, 1, 1, 1, dtype=torch.uint8), torch.Generator().manual_seed(0))
    base = torch.tensor([[float(op[2]) for op in sub] for sub in POLICIES["v0"]])[params["policy"]]
    noise = (params["level"] - base)[(base > 2) & (base < 8)]
    assert abs(float(noise.mean())) < 0.03 and abs(float(noise.std()) - 0.5) < 0.03
    assert float(params["level"].min()) >= 0 and float(params["level"].max()) <= 10


def test_each_sample_runs_its_own_sub_policy():
    aug = ep.create_augmentation("auto_augment", policy="v0")
    x = sample_batch(torch.uint8, batch=1).expand(16, -1, -1, -1).contiguous()
    out, _ = aug(x, generator=torch.Generator().manual_seed(0))
    assert len({tuple(out[i].flatten().tolist()) for i in range(16)}) > 8
    again, _ = aug(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


@pytest.mark.parametrize("policy", list(POLICIES))
def test_the_whole_batch_form_of_an_accelerator_equals_the_chosen_samples_form(policy, monkeypatch):
    """On an accelerator each op runs on the whole batch and a select keeps the samples that chose it (no host
    sync); on the CPU only those samples run. Forced here on the CPU, both give the same pixels."""
    from effl_plugins.augment.auto import auto_augment, rand_augment

    aug = AutoAugment(policy, magnitude_std=0.5)
    for images in (sample_batch(torch.uint8, batch=32), sample_batch(torch.float32, batch=32)):
        chosen, _ = aug(images, generator=torch.Generator().manual_seed(0))
        with monkeypatch.context() as patch:
            whole = lambda images, chosen, run: rand_augment._where_chosen(images, chosen, run, subset=False)  # noqa: E731
            patch.setattr(auto_augment, "_where_chosen", whole)
            everyone, _ = aug(images, params=aug.last_params)
        assert torch.equal(chosen, everyone)


def test_the_image_backend_draws_like_the_batch_one_and_runs_its_ops():
    aug = ep.create_augmentation("auto_augment", backend="image", policy="v0", magnitude_std=0.5)
    img = sample_batch(torch.uint8, batch=1)[0].permute(1, 2, 0).numpy().copy()
    rng = np.random.default_rng(0)
    draws = [aug.sample_params(img, rng) for _ in range(5000)]
    policies = np.bincount([d["policy"] for d in draws], minlength=25)
    assert ((policies - 200) ** 2 / 200).sum() < 51.2  # chi-square, 24 dof: p = 0.001
    probs = np.array([[op[1] for op in sub] for sub in POLICIES["v0"]])[[d["policy"] for d in draws]]
    applied = np.array([d["applied"] for d in draws])
    assert np.abs(applied.mean(0) - probs.mean(0)).max() < 0.02
    batch = AutoAugment("v0", magnitude_std=0.5)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    for params in draws[:20]:
        as_batch = {key: torch.as_tensor(np.asarray(value))[None] for key, value in params.items()}
        expected, _ = batch(x, params={**as_batch, "policy": as_batch["policy"].view(1)})
        assert np.array_equal(aug(img, params=params), expected[0].permute(1, 2, 0).numpy())


@pytest.mark.parametrize(
    ("spec", "kwargs"),
    [
        ("original", {"policy": "original"}),
        ("originalr", {"policy": "originalr"}),
        ("v0r-mstd0.5", {"policy": "v0r", "magnitude_std": 0.5}),
        ("3a", {"policy": "3a"}),
    ],
)
def test_timm_strings_name_the_policy(spec, kwargs):
    (term,) = parse_spec(spec)
    assert term.name == "auto_augment" and term.kwargs == kwargs
    assert isinstance(build_augmentation(spec), AutoAugment)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("original-m9", "unknown AutoAugment field 'm9'; timm's only field is mstd"),
        ("v0-mstdx", "unknown AutoAugment field 'mstdx'"),
        ("augmix-m5-q3", "unknown AugMix field 'q3'"),
    ],
)
def test_bad_strings_are_refused(spec, words):
    with pytest.raises(ValueError, match=None) as info:
        parse_spec(spec)
    assert words in str(info.value)


def test_bad_arguments_are_refused_naming_them():
    for kwargs, words in (
        ({"policy": "v1"}, "policy must be one of"),
        ({"magnitude_std": -1}, "magnitude_std must be a finite number >= 0"),
        ({"interpolation": "cubic"}, "interpolation must be one of"),
        ({"fill": 2}, "fill must be in [0, 1]"),
    ):
        with pytest.raises(ValueError) as info:
            AutoAugment(**kwargs)
        assert words in str(info.value)


@pytest.mark.slow
def test_a_digits_epoch_with_aug_original_through_the_cli(tmp_path):
    out = tmp_path / "run"
    words = ["finetune", "--data", "digits", "--model", "test_resnet", "--epochs", "1", "--batch-size", "128"]
    words += ["--img-size", "32"]  # the digits are 8x8: test_resnet's own 160 px would only cost time
    assert main([*words, "--aug", "original", "--workers", "0", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1
    assert "original" in (out / "args.yaml").read_text()

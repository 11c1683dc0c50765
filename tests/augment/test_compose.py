"""``compose``: ops in order, one generator through the chain, replay, both backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.augment.compose import Compose, ComposeImage


def double(images, targets=None, *, generator=None):
    return images * 2, targets


def plus_one(images, targets=None, *, generator=None):
    return images + 1, targets


def batch(seed: int = 0, size: int = 16) -> torch.Tensor:
    return torch.randint(0, 256, (5, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_ops_run_in_the_order_given():
    x = torch.arange(6, dtype=torch.float64).reshape(1, 1, 2, 3)
    assert torch.equal(Compose([double, plus_one])(x)[0], 2 * x + 1)
    assert torch.equal(Compose([plus_one, double])(x)[0], 2 * x + 2)


@pytest.mark.parametrize(
    "specs",
    [
        ["rotate(degrees=30)", "brightness(max_delta=0.3)", "flip"],
        ["flip", "brightness(max_delta=0.3)", "rotate(degrees=30)"],
    ],
)
def test_equals_the_ops_applied_one_by_one_with_one_generator(specs):
    x = batch()
    aug = ep.create_augmentation("compose", ops=specs)
    out, _ = aug(x, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    expected = x
    for op in aug.ops:
        expected, _ = op(expected, generator=g)
    assert torch.equal(out, expected)
    again, _ = aug(x, generator=torch.Generator().manual_seed(7))
    other, _ = aug(x, generator=torch.Generator().manual_seed(8))
    assert torch.equal(out, again) and not torch.equal(out, other)


def test_the_order_changes_the_result():
    x = batch()
    a, _ = Compose(["rotate(degrees=30)", "brightness(max_delta=0.3)"])(x, generator=torch.Generator().manual_seed(1))
    b, _ = Compose(["brightness(max_delta=0.3)", "rotate(degrees=30)"])(x, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)


def test_targets_pass_through_and_mixing_ops_mix_them():
    x, labels = batch(), torch.tensor([0, 1, 2, 0, 1])
    aug = Compose(["flip", ep.create_augmentation("mixup", num_classes=3, alpha=1.0)])
    assert aug.mixes_samples and aug.num_classes == 3
    out, soft = aug(x, labels, generator=torch.Generator().manual_seed(0))
    assert soft.shape == (5, 3) and torch.allclose(soft.sum(1), torch.ones(5))
    replay, soft_again = aug(x, labels, params=aug.last_params)
    assert torch.equal(out, replay) and torch.equal(soft, soft_again)


def test_last_params_replays_by_op_index():
    x = batch()
    aug = Compose(["brightness(max_delta=0.3)", "rotate(degrees=30)"])
    out, _ = aug(x, generator=torch.Generator().manual_seed(3))
    assert {key.split(".")[0] for key in aug.last_params} == {"0", "1"}
    assert torch.equal(aug(x, params=aug.last_params)[0], out)


def test_plain_functions_run_but_cannot_replay():
    aug = Compose([double, "flip"])
    aug(batch().float())
    with pytest.raises(ValueError, match=r"ops\[0\].*cannot be replayed"):
        aug(batch().float(), params=aug.last_params)


def test_size_follows_the_last_resizing_op():
    aug = Compose(["flip", "random_resized_crop(size=8)"])
    assert aug.size == (8, 8) and aug(batch())[0].shape == (5, 3, 8, 8)


@pytest.mark.parametrize(
    ("ops", "error", "match"),
    [
        ("flip", TypeError, r"single SPEC goes in a list: ops=\['flip'\]"),
        ([], ValueError, "at least one"),
        ([3], TypeError, r"ops\[0\] must be an augmentation"),
        (["flip", ""], ValueError, r"ops\[1\] is an empty SPEC"),
        (["flp"], ep.UnknownComponentError, "did you mean 'flip'"),
    ],
)
def test_bad_ops(ops, error, match):
    with pytest.raises(error, match=match):
        Compose(ops)


def test_image_backend_in_order_with_one_rng():
    img = np.ascontiguousarray(batch(size=20)[0].permute(1, 2, 0).numpy())
    aug = ep.create_augmentation("compose", backend="image", ops=["rotate(degrees=30)", "brightness(max_delta=0.3)"])
    assert isinstance(aug, ComposeImage)
    out = aug(img, rng=4)
    rng = np.random.default_rng(4)
    expected = img
    for op in aug.ops:
        expected = op(expected, rng)
    assert np.array_equal(out, expected) and np.array_equal(aug(img, params=aug.last_params), out)
    with pytest.raises(ValueError, match="list of 2 per-op params"):
        aug(img, params=aug.last_params[:1])


def test_a_built_chain_pickles_for_dataloader_workers():
    import pickle

    img = np.ascontiguousarray(batch(size=20)[0].permute(1, 2, 0).numpy())
    aug = ComposeImage(["rand-m9-n2-mstd0.5", "flip", "brightness(max_delta=0.1)"])
    copy = pickle.loads(pickle.dumps(aug))
    assert np.array_equal(copy(img, rng=2), aug(img, rng=2))


POINT_OPS = ["brightness(max_delta=0.4)", "solarize", "posterize", "invert", "identity", "brightness(mode='add')"]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    chain=st.lists(st.sampled_from(POINT_OPS + ["rotate(degrees=20)", "contrast"]), min_size=1, max_size=6),
    channels=st.sampled_from([1, 3]),
)
def test_point_op_runs_fold_into_one_table_and_equal_the_ops_one_by_one(seed, chain, channels):
    x = torch.randint(0, 256, (5, channels, 7, 9), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    original = x.clone()
    composed = Compose(chain)
    got, _ = composed(x, generator=torch.Generator().manual_seed(seed))
    expected, generator = x, torch.Generator().manual_seed(seed)
    for op in composed.ops:  # the same modules, one by one, drawing from one generator
        expected, _ = op(expected, generator=generator)
    assert torch.equal(got, expected)
    assert torch.equal(x, original)
    replayed, _ = composed(x, params=composed.last_params)
    assert torch.equal(replayed, got)


def test_a_run_of_point_ops_makes_one_pass_over_the_pixels(monkeypatch):
    from effl_plugins.augment import compose as compose_module

    passes = []
    real = compose_module.apply_lut
    monkeypatch.setattr(
        compose_module, "apply_lut", lambda images, luts: passes.append(images.shape) or real(images, luts)
    )
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    Compose(["brightness", "solarize", "posterize", "invert", "rotate", "posterize", "invert"])(x)
    assert passes == [(4, 3, 16, 16), (4, 3, 16, 16)]  # one per run of point ops, around the rotation
    passes.clear()
    Compose(["brightness", "solarize"])(x.float() / 255)  # float images: no tables
    assert passes == []

"""rand_augment: per-sample op choice and magnitude, both backends equal on replayed params."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import effl_plugins as ep
from effl_plugins.augment.auto.op_space import GEOMETRIC, RAND_AUGMENT_OPS
from effl_plugins.augment.functional import matrices
from effl_plugins.augment.functional.warp import warp_affine
from effl_plugins.testing import sample_batch


def _replay_image(image_aug, x: torch.Tensor, params: dict, i: int) -> np.ndarray:
    one = {k: v[i].numpy() for k, v in params.items()}
    return image_aug(x[i].permute(1, 2, 0).numpy().copy(), params=one)


def _fixed(op_names, batch: int, name_rows, magnitude=0.5, seed=0):
    """params choosing the ops ``name_rows`` (one list of names per slot) for every sample, signs alternating."""
    ops = torch.tensor([[op_names.index(n) for n in name_rows]] * batch)
    sign = torch.where(torch.arange(batch) % 2 == 0, 1.0, -1.0)[:, None].expand_as(ops).contiguous()
    return {"ops": ops, "magnitude": torch.full(ops.shape, magnitude), "sign": sign}


def test_per_sample_ops_and_outputs_differ():
    aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=12)
    x = sample_batch(torch.uint8, batch=1, size=20).expand(32, -1, -1, -1).contiguous()
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    ops = aug.last_params["ops"]
    assert ops.shape == (32, 2) and len({tuple(r) for r in ops.tolist()}) > 16
    assert len({y[i].numpy().tobytes() for i in range(32)}) > 16


def test_seeded_reproducible_and_replayable():
    aug = ep.create_augmentation("rand_augment", magnitude_std=0.5)
    x = sample_batch(torch.float32, batch=8)
    y1, _ = aug(x, generator=torch.Generator().manual_seed(4))
    params = aug.last_params
    y2, _ = aug(x, generator=torch.Generator().manual_seed(4))
    y3, _ = aug(x, params=params)
    assert torch.equal(y1, y2) and torch.equal(y1, y3)


@pytest.mark.parametrize("name", RAND_AUGMENT_OPS)
def test_batch_equals_image_backend_for_each_op(name):
    batch = ep.create_augmentation("rand_augment")
    image = ep.create_augmentation("rand_augment", backend="image")
    x = sample_batch(torch.uint8, batch=4, size=21, seed=3)
    params = _fixed(batch.op_names, 4, [name], magnitude=0.6)
    y, _ = batch(x, params=params)
    for i in range(4):
        expected = y[i].permute(1, 2, 0).numpy()
        got = _replay_image(image, x, params, i)
        if name in GEOMETRIC:  # nearest-neighbour rounding may differ where a coordinate lands on .5
            assert (got != expected).mean() < 0.1
        else:
            np.testing.assert_array_equal(got, expected)


def test_colour_ops_run_first_then_one_warp_of_the_composed_geometry():
    names = ("rotate", "solarize", "translate_y", "color")
    aug = ep.create_augmentation("rand_augment", num_ops=4, ops=names)
    x = sample_batch(torch.uint8, batch=2, size=16)
    params = _fixed(list(names), 2, list(names), magnitude=0.7)
    y, _ = aug(x, params=params)
    m, s = params["magnitude"][:, 0], params["sign"][:, 0]
    ops = {n: op for n, op in zip(names, aug._ops)}
    colour = ops["solarize"].apply(x, None, ops["solarize"].params_from_magnitude(x, m, s))[0]
    colour = ops["color"].apply(colour, None, ops["color"].params_from_magnitude(colour, m, s))[0]
    turn = ops["rotate"].matrix_from_params(ops["rotate"].params_from_magnitude(x, m, s), 16, 16)
    shift = ops["translate_y"].matrix_from_params(ops["translate_y"].params_from_magnitude(x, m, s), 16, 16)
    assert torch.equal(y, warp_affine(colour, shift @ turn))
    image = ep.create_augmentation("rand_augment", backend="image", num_ops=4, ops=names)
    for i in range(2):
        assert (_replay_image(image, x, params, i) != y[i].permute(1, 2, 0).numpy()).mean() < 0.1


def test_op_choice_is_uniform():
    aug = ep.create_augmentation("rand_augment", num_ops=3)
    params = aug.sample_params(torch.zeros(5000, 1, 1, 1, dtype=torch.uint8), torch.Generator().manual_seed(0))
    counts = torch.bincount(params["ops"].flatten(), minlength=14).double()
    expected = counts.sum() / 14
    chi2 = ((counts - expected) ** 2 / expected).sum().item()
    assert chi2 < 36.1  # chi-square, 13 degrees of freedom: p = 0.001
    signs = params["sign"]
    assert set(signs.unique().tolist()) == {-1.0, 1.0} and abs(signs.mean().item()) < 0.03
    image = ep.create_augmentation("rand_augment", backend="image")
    rng = np.random.default_rng(0)
    picks = np.concatenate([image.sample_params(np.zeros((2, 2, 3), np.uint8), rng)["ops"] for _ in range(2000)])
    image_counts = np.bincount(picks, minlength=14)
    assert ((image_counts - len(picks) / 14) ** 2 / (len(picks) / 14)).sum() < 36.1


@pytest.mark.parametrize("backend", ["batch", "image"])
def test_magnitude_std(backend):
    def draw(**kwargs):
        aug = ep.create_augmentation("rand_augment", backend=backend, magnitude=15, num_ops=4, **kwargs)
        if backend == "batch":
            return (
                aug.sample_params(torch.zeros(2000, 1, 1, 1, dtype=torch.uint8), torch.Generator().manual_seed(1))[
                    "magnitude"
                ]
                .double()
                .numpy()
                .ravel()
                * 30
            )
        rng = np.random.default_rng(1)
        return (
            np.concatenate(
                [aug.sample_params(np.zeros((2, 2, 3), np.uint8), rng)["magnitude"] for _ in range(2000)]
            ).astype(np.float64)
            * 30
        )

    assert np.allclose(draw(), 15)
    noisy = draw(magnitude_std=5.0)
    assert abs(noisy.mean() - 15) < 0.3 and abs(noisy.std() - 5) < 0.3 and noisy.min() >= 0 and noisy.max() <= 30
    uniform = draw(magnitude_std=math.inf)
    assert (
        uniform.min() >= 0
        and uniform.max() <= 15
        and abs(uniform.mean() - 7.5) < 0.3
        and abs(uniform.std() - 15 / 12**0.5) < 0.3
    )


def test_magnitude_zero_is_identity_below_white():
    aug = ep.create_augmentation(
        "rand_augment",
        num_ops=3,
        magnitude=0,
        ops=[n for n in RAND_AUGMENT_OPS if n not in ("auto_contrast", "equalize")],
    )
    x = sample_batch(torch.uint8, batch=32).clamp(
        max=254
    )  # solarize at M=0 still inverts pure white, as in torchvision
    y, _ = aug(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, y)
    image = ep.create_augmentation("rand_augment", backend="image", magnitude=0, ops=aug.op_names)
    img = x[0].permute(1, 2, 0).numpy().copy()
    assert all(np.array_equal(image(img, rng=seed), img) for seed in range(10))


def test_magnitude_scales_the_params():
    aug = ep.create_augmentation("rand_augment", ops=["rotate"])
    x = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    angle = aug._op_params(0, x, torch.tensor([1.0, 0.3]), torch.tensor([1.0, -1.0]))["angle"]
    torch.testing.assert_close(angle, torch.tensor([30.0, -9.0]))
    assert torch.equal(matrices.identity(1), aug._ops[0].matrix_from_params({"angle": torch.zeros(1)}, 8, 8))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_ops": -1}, "num_ops"),
        ({"magnitude": 31}, "magnitude"),
        ({"magnitude": -1}, "magnitude"),
        ({"magnitude_std": -0.5}, "magnitude_std"),
        ({"ops": ["nope"]}, "ops"),
        ({"interpolation": "cubic"}, "interpolation"),
    ],
)
@pytest.mark.parametrize("backend", ["batch", "image"])
def test_bad_arguments(kwargs, match, backend):
    with pytest.raises(ValueError, match=match):
        ep.create_augmentation("rand_augment", backend=backend, **kwargs)


def test_bad_params_and_images():
    aug = ep.create_augmentation("rand_augment")
    x = sample_batch(torch.uint8, batch=2)
    with pytest.raises(ValueError, match="ops"):
        aug(x, params={"ops": torch.tensor([[0], [99]]), "magnitude": torch.zeros(2, 1), "sign": torch.ones(2, 1)})
    with pytest.raises(ValueError, match=r"\[B, N\]"):
        aug(x, params={"ops": torch.tensor([[0], [1]]), "magnitude": torch.zeros(2, 2), "sign": torch.ones(2, 1)})
    with pytest.raises(ValueError, match="4-D"):
        aug(x[0])
    with pytest.raises(TypeError, match="dtype"):
        aug(x.to(torch.int32))


def test_accelerator_path_selects_the_same_results(monkeypatch):
    """Off the CPU every op runs on the whole batch and ``torch.where`` keeps the choosers' results."""
    import effl_plugins.augment.auto.rand_augment as module

    aug = ep.create_augmentation("rand_augment", num_ops=3, magnitude=20)
    x = sample_batch(torch.uint8, batch=12, size=16)
    expected, _ = aug(x, generator=torch.Generator().manual_seed(9))
    where_only = module._where_chosen
    monkeypatch.setattr(module, "use_lut_chain", lambda images: False)
    monkeypatch.setattr(
        module, "_where_chosen", lambda images, chosen, run: where_only(images, chosen, run, subset=False)
    )
    got, _ = aug(x, params=aug.last_params)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("module", ["cutmix", "mixup", "prefetch", "auto.rand_augment", "auto.trivial_augment"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"effl_plugins.augment.{module}"))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fixed_magnitudes_are_the_tensor_division_of_m_by_30(dtype):
    """Without noise no draw is made: each magnitude is M / 30 as a tensor of the default dtype divides it, for
    every M on a half-step grid, on the device asked for."""
    from effl_plugins.augment.auto.op_space import MAX_MAGNITUDE, sample_magnitudes

    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        for step in range(61):
            magnitude = step / 2
            out = sample_magnitudes((3, 2), magnitude, 0.0, "cpu", torch.Generator().manual_seed(0))
            expected = torch.full((3, 2), magnitude) / MAX_MAGNITUDE
            assert out.dtype == dtype and torch.equal(out, expected), magnitude
    finally:
        torch.set_default_dtype(default)

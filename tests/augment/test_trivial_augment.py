"""trivial_augment: one op per sample at a uniform magnitude bin, wide ranges, both backends equal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import effl_plugins as ep
from effl_plugins.augment.auto.op_space import GEOMETRIC, RAND_AUGMENT_OPS
from effl_plugins.testing import sample_batch


def test_one_op_per_sample_at_uniform_bins():
    aug = ep.create_augmentation("trivial_augment")
    params = aug.sample_params(torch.zeros(6200, 1, 1, 1, dtype=torch.uint8), torch.Generator().manual_seed(0))
    assert params["ops"].shape == (6200, 1)
    bins = params["magnitude"].flatten() * 30
    assert torch.allclose(bins, bins.round(), atol=1e-4)
    counts = torch.bincount(bins.round().long(), minlength=31).double()
    assert counts.numel() == 31 and ((counts - 200) ** 2 / 200).sum() < 59.7  # chi-square, 30 dof: p = 0.001
    op_counts = torch.bincount(params["ops"].flatten(), minlength=14).double()
    assert ((op_counts - 6200 / 14) ** 2 / (6200 / 14)).sum() < 36.1


def _params_for(aug, name: str, magnitude: float, sign: float, backend: str):
    k = aug.op_names.index(name)
    if backend == "batch":
        x = torch.zeros(1, 3, 10, 20, dtype=torch.uint8)
        return {key: v[0] for key, v in aug._op_params(k, x, torch.tensor([magnitude]), torch.tensor([sign])).items()}
    return aug._op_params(k, np.zeros((10, 20, 3), np.uint8), magnitude, sign)


@pytest.mark.parametrize("backend", ["batch", "image"])
def test_wide_and_randaugment_ranges_at_the_top_bin(backend):
    wide = ep.create_augmentation("trivial_augment", backend=backend)
    narrow = ep.create_augmentation("trivial_augment", backend=backend, wide=False)
    cases = {  # name: (key, wide value, RandAugment value) at magnitude 1, sign -1
        "rotate": ("angle", [-135.0], [-30.0]),
        "shear_y": ("shear", [0.0, -0.99], [0.0, -0.3]),
        "translate_x": ("shift", [-32.0, 0.0], [-9.0, 0.0]),  # torchvision's int(150 / 331 * 20 = 9.06)
        "contrast": ("factor", [0.01], [0.1]),
        "brightness": ("factor", [0.01] * 3, [0.1] * 3),
        "posterize": ("bits", [2], [4]),
        "solarize": ("threshold", [0.0], [0.0]),
    }
    for name, (key, wide_value, narrow_value) in cases.items():
        for aug, value in ((wide, wide_value), (narrow, narrow_value)):
            got = np.asarray(_params_for(aug, name, 1.0, -1.0, backend)[key], dtype=np.float64).reshape(-1)
            np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-6, err_msg=f"{name} {aug.wide}")


@pytest.mark.parametrize("wide", [True, False])
def test_batch_equals_image_backend_on_replayed_params(wide):
    batch = ep.create_augmentation("trivial_augment", wide=wide)
    image = ep.create_augmentation("trivial_augment", backend="image", wide=wide)
    x = sample_batch(torch.uint8, batch=40, size=18, seed=5)
    y, _ = batch(x, generator=torch.Generator().manual_seed(2))
    for i in range(40):
        got = image(
            x[i].permute(1, 2, 0).numpy().copy(), params={k: v[i].numpy() for k, v in batch.last_params.items()}
        )
        expected = y[i].permute(1, 2, 0).numpy()
        if batch.op_names[int(batch.last_params["ops"][i, 0])] in GEOMETRIC:
            assert (got != expected).mean() < 0.1
        else:
            np.testing.assert_array_equal(got, expected)


def test_per_sample_randomness_seed_and_bad_arguments():
    aug = ep.create_augmentation("trivial_augment", ops=list(RAND_AUGMENT_OPS[1:]))
    x = sample_batch(torch.uint8, batch=1).expand(16, -1, -1, -1).contiguous()
    y1, _ = aug(x, generator=torch.Generator().manual_seed(0))
    y2, _ = aug(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y1, y2) and len({y1[i].numpy().tobytes() for i in range(16)}) > 8
    with pytest.raises(ValueError, match="wide"):
        ep.create_augmentation("trivial_augment", wide="yes")
    with pytest.raises(ValueError, match="ops"):
        ep.create_augmentation("trivial_augment", backend="image", ops=[])

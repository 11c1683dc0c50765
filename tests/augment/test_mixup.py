"""mixup: per-sample λ, blends against a float64 reference, timm's Mixup reproduced."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep
from effl_plugins.testing import sample_batch


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 8),
    size=st.integers(1, 12),
    alpha=st.floats(0.05, 5.0),
    per_batch=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_blend_and_targets_follow_lambda(batch, size, alpha, per_batch, seed):
    aug = ep.create_augmentation("mixup", alpha=alpha, num_classes=batch, per_batch=per_batch)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, size, size, generator=g)
    out, soft = aug(x, torch.arange(batch), generator=g)
    lam, perm = aug.last_params["lam"], aug.last_params["permutation"]
    assert lam.dtype == torch.float64 and ((lam >= 0) & (lam <= 1)).all()
    reference = lam[:, None, None, None] * x.double() + (1 - lam[:, None, None, None]) * x[perm].double()
    torch.testing.assert_close(out.double(), reference, atol=2e-7, rtol=0)
    assert out.min() >= 0 and out.max() <= 1
    expected = (
        lam[:, None] * torch.eye(batch, dtype=torch.float64)
        + (1 - lam[:, None]) * torch.eye(batch, dtype=torch.float64)[perm]
    )
    torch.testing.assert_close(soft.double(), expected, atol=1e-7, rtol=0)
    if per_batch:
        assert (lam == lam[0]).all()


def test_uint8_rounds_to_nearest():
    aug = ep.create_augmentation("mixup", num_classes=2)
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 2, 2).contiguous()
    params = {"permutation": torch.tensor([1, 0]), "lam": torch.tensor([0.3, 0.5], dtype=torch.float64)}
    y, t = aug(x, torch.tensor([0, 1]), params=params)
    assert y.dtype == torch.uint8
    assert (y[0] == round(0.7 * 255)).all() and (y[1] == round(0.5 * 255)).all()
    torch.testing.assert_close(t, torch.tensor([[0.3, 0.7], [0.5, 0.5]]))


def test_lambda_differs_per_sample_and_follows_beta():
    aug = ep.create_augmentation("mixup", alpha=0.4, num_classes=10)
    x = sample_batch(torch.float32, batch=4000, size=1)
    aug(x, torch.arange(4000) % 10, generator=torch.Generator().manual_seed(0))
    lam = aug.last_params["lam"]
    assert lam.unique().numel() > 3900
    # Beta(0.4, 0.4): mean 1/2, variance 1 / (4 (2α + 1)) = 0.1389
    assert abs(lam.mean().item() - 0.5) < 0.02 and abs(lam.var().item() - 0.25 / 1.8) < 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_lambda_as_timm_per_batch_gives_same_images_and_targets(seed):
    from timm.data.mixup import Mixup

    g = torch.Generator().manual_seed(seed)
    x, targets = torch.rand(8, 3, 12, 12, generator=g), torch.randint(0, 10, (8,), generator=g)
    mixer = Mixup(mixup_alpha=0.8, cutmix_alpha=0.0, mode="batch", label_smoothing=0.1, num_classes=10)
    np.random.seed(seed)
    lam, _ = mixer._params_per_batch()
    np.random.seed(seed)
    expected, expected_soft = mixer(x.clone(), targets)
    aug = ep.create_augmentation("mixup", num_classes=10, label_smoothing=0.1, per_batch=True)
    params = {"permutation": torch.arange(8).flip(0), "lam": torch.full((8,), lam, dtype=torch.float64)}
    out, soft = aug(x, targets, params=params)
    assert torch.equal(out, expected)
    assert torch.equal(soft, expected_soft)


def test_bad_input():
    aug = ep.create_augmentation("mixup", num_classes=3)
    x = sample_batch(torch.uint8, batch=4)
    with pytest.raises(ValueError, match="4 images"):
        aug(x, torch.arange(5) % 3)
    with pytest.raises(ValueError, match="num_classes"):
        ep.create_augmentation("mixup")(x, torch.arange(4) % 3)
    with pytest.raises(ValueError, match="soft targets have 4 classes but num_classes=3"):
        aug(x, torch.rand(4, 4))
    with pytest.raises(ValueError, match="alpha"):
        ep.create_augmentation("mixup", alpha=0)
    with pytest.raises(ValueError, match="lam"):
        aug(x, torch.arange(4) % 3, params={"permutation": torch.arange(4), "lam": torch.ones(4, 1)})


def test_same_lambdas_as_timm_per_element_give_same_images_and_targets():
    from timm.data.mixup import Mixup

    g = torch.Generator().manual_seed(7)
    x, targets = torch.rand(6, 3, 10, 10, generator=g), torch.randint(0, 10, (6,), generator=g)
    mixer = Mixup(mixup_alpha=0.4, cutmix_alpha=0.0, mode="elem", label_smoothing=0.0, num_classes=10)
    np.random.seed(7)
    lam, _ = mixer._params_per_elem(6)  # float32, as timm keeps them
    np.random.seed(7)
    expected, expected_soft = mixer(x.clone(), targets)
    aug = ep.create_augmentation("mixup", num_classes=10)
    params = {"permutation": torch.arange(6).flip(0), "lam": torch.from_numpy(lam.astype(np.float64))}
    out, soft = aug(x, targets, params=params)
    assert torch.equal(out, expected)
    assert torch.equal(soft, expected_soft)

"""PrefetchLoader on the CPU: batches arrive moved, augmented per sample and normalized."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import effl_plugins as ep
from effl_plugins.augment.prefetch import PrefetchLoader
from effl_plugins.testing import sample_batch


def _loader(batch_size: int = 4) -> DataLoader:
    images = sample_batch(torch.uint8, batch=10, size=8, seed=2)
    return DataLoader(TensorDataset(images, torch.arange(10) % 3), batch_size=batch_size, shuffle=False)


def test_augments_each_batch_like_a_direct_call_with_the_same_generator():
    aug = ep.create_augmentation("mixup", num_classes=3)
    loader = PrefetchLoader(_loader(), augmentation=aug, device="cpu", generator=torch.Generator().manual_seed(0))
    assert len(loader) == 3
    got = list(loader)
    assert [len(x) for x, _ in got] == [4, 4, 2]
    reference = torch.Generator().manual_seed(0)
    for (images, targets), (raw, labels) in zip(got, _loader()):
        expected_images, expected_targets = aug(raw, labels, generator=reference)
        assert images.dtype == torch.uint8 and torch.equal(images, expected_images)
        assert targets.shape == (len(raw), 3) and torch.equal(targets, expected_targets)


def test_normalize_to_float():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    loader = PrefetchLoader(_loader(10), device="cpu", mean=mean, std=std)
    ((images, targets),) = list(loader)
    raw, labels = next(iter(_loader(10)))
    expected = (raw.double() / 255 - torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)) / torch.tensor(
        std, dtype=torch.float64
    ).view(1, 3, 1, 1)
    assert images.dtype == torch.float32
    torch.testing.assert_close(images.double(), expected, atol=1e-5, rtol=0)
    assert torch.equal(targets, labels)


def test_images_only_loader_and_per_sample_augmentation():
    same = sample_batch(torch.uint8, batch=1, size=8).expand(6, -1, -1, -1).contiguous()
    loader = PrefetchLoader([same], augmentation=ep.create_augmentation("brightness"), device="cpu")
    ((images, targets),) = list(loader)
    assert targets is None and images.shape == same.shape
    assert any(not torch.equal(images[0], images[i]) for i in range(1, 6))


def test_bad_arguments():
    with pytest.raises(ValueError, match="mean and std go together"):
        PrefetchLoader([], mean=(0.5,))
    with pytest.raises(ValueError, match="std must hold"):
        PrefetchLoader([], mean=(0.5,), std=(0.0,))
    with pytest.raises(TypeError, match=r"\[B, C, H, W\]"):
        next(iter(PrefetchLoader([torch.zeros(3, 4, 4)], device="cpu")))

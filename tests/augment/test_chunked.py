"""Ops that declare ``chunked`` run their CPU batch in cache-sized runs of samples; the result is the whole-batch
``apply`` bit for bit, with the same params, whatever the chunk size."""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep
from effl_plugins.augment import base

CHUNKED = [
    name
    for name in ep.list_augmentations(backend="batch")
    if getattr(type(ep.create_augmentation(name, **({"ops": ["flip"]} if name == "compose" else {}))), "chunked", False)
]


def test_the_multi_pass_ops_are_chunked():
    assert {
        "contrast",
        "color",
        "sharpness",
        "auto_contrast",
        "equalize",
        "rotate",
        "shear",
        "random_resized_crop",
    } <= set(CHUNKED)


@pytest.mark.parametrize("name", CHUNKED)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("chunk_bytes", [1, 700, 5_000])  # one sample, a few samples, the chunk not dividing B
def test_chunks_equal_the_whole_batch(name, dtype, chunk_bytes, monkeypatch):
    aug = ep.create_augmentation(name)
    x = torch.randint(0, 256, (7, 3, 13, 17), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    x = x if dtype == torch.uint8 else x.to(dtype) / 255
    targets = torch.arange(7)
    monkeypatch.setattr(base, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(aug, "chunk_bytes", None if aug.chunk_bytes is None else chunk_bytes)
    out, kept = aug(x, targets, generator=torch.Generator().manual_seed(1))
    whole, _ = aug.apply(x, targets, aug.last_params)
    assert torch.equal(out, whole)
    assert kept is targets


def test_a_crop_the_separable_path_refuses_is_resampled_in_chunks_without_asking_it_again(monkeypatch):
    """float64 has no separable kernel: the refusal is taken once for the batch, then each chunk goes straight to
    the box resampler, and the chunks equal the whole batch."""
    from effl_plugins.augment import random_resized_crop

    asked, real = [], random_resized_crop._resize_on_cpu
    monkeypatch.setattr(random_resized_crop, "_resize_on_cpu", lambda *a: asked.append(len(a[0])) or real(*a))
    monkeypatch.setattr(base, "CHUNK_BYTES", 700)
    aug = ep.create_augmentation("random_resized_crop", size=8)
    x = torch.rand(7, 3, 13, 17, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out, _ = aug(x, generator=torch.Generator().manual_seed(1))
    assert asked == [7]
    whole, _ = aug.apply(x, None, aug.last_params)
    assert torch.equal(out, whole) and out.shape == (7, 3, 8, 8)

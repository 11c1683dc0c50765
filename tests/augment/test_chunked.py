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

"""A pseudo-label store's rows follow the images' keys: read against the same keys in another order
(shards listed in another order), each image gets its own row."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from effl_plugins.data import DataConfig, StreamImageDataset, eval_transform
from effl_plugins.data.sources import ArraySource
from effl_plugins.strategies.selftrain.labeler import label_dataset
from effl_plugins.strategies.selftrain.store import PseudoLabelStoreError, read_store

CFG = DataConfig((3, 16, 16), "bilinear", (0.5,) * 3, (0.5,) * 3, 1.0)


def _images(keys: list[str]) -> StreamImageDataset:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (len(keys), 16, 16, 3), dtype=np.uint8)
    return StreamImageDataset(ArraySource(images), [-1] * len(keys), keys, eval_transform(CFG))


def test_rows_are_matched_by_key_and_other_keys_are_refused(tmp_path):
    keys = [f"shard-{s}/{i:03d}" for s in range(2) for i in range(5)]
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
    label_dataset(teacher, _images(keys), tmp_path, num_classes=4, shard_size=4)
    stored = read_store(tmp_path, expected_ids=keys)
    reordered = keys[5:] + keys[:5]
    got = read_store(tmp_path, expected_ids=reordered)
    assert got.ids == reordered
    assert torch.equal(got.probs, torch.cat([stored.probs[5:], stored.probs[:5]]))
    with pytest.raises(PseudoLabelStoreError, match="holds image id"):
        read_store(tmp_path, expected_ids=keys[:-1] + ["other"])

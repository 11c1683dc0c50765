"""A pseudo-label store is checked against the dataset it is read for: the ids are required."""

from __future__ import annotations

import pytest

from effl_plugins.errors import PseudoLabelStoreError
from effl_plugins.strategies.selftrain.store import read_store
from tests.strategies.selftrain.test_store import NUM_IMAGES, label, tiny_dataset


def test_read_store_requires_the_dataset_ids_or_an_explicit_opt_out(tmp_path):
    label(tmp_path)
    with pytest.raises(TypeError, match=r"read_store needs expected_ids= .* pass trust_ids=True"):
        read_store(tmp_path)
    with pytest.raises(TypeError, match="not both"):
        read_store(tmp_path, expected_ids=tiny_dataset().ids, trust_ids=True)
    with pytest.raises(TypeError, match="a sequence of image ids, got the single string"):
        read_store(tmp_path, expected_ids="img-000.png")
    assert read_store(tmp_path, trust_ids=True).ids == tiny_dataset().ids
    assert read_store(tmp_path, expected_ids=tiny_dataset().ids).ids == tiny_dataset().ids


def test_a_store_from_another_dataset_is_refused(tmp_path):
    label(tmp_path)
    other = [f"other-{i:03d}.jpg" for i in range(NUM_IMAGES)]
    with pytest.raises(PseudoLabelStoreError, match="position 0 holds image id 'img-000.png', the dataset's is 'other"):
        read_store(tmp_path, expected_ids=other)
    with pytest.raises(PseudoLabelStoreError, match=f"labels {NUM_IMAGES} images, the dataset has 3"):
        read_store(tmp_path, expected_ids=other[:3])

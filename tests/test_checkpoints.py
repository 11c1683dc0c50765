"""Atomic writes, weights-only checkpoint loading, RNG states as tensors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from effl_plugins.checkpoints import atomic_save, atomic_write_text, load_checkpoint, rng_state, set_rng_state
from effl_plugins.errors import CheckpointError


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "checkpoint.pt"
    atomic_save({"model": {"w": torch.ones(2)}, "epoch": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_save({"model": {}, "epoch": 2, "bad": Unpicklable()}, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"], "no temporary file may be left behind"
    atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}"


def test_checkpoint_with_code_objects_is_refused(tmp_path):
    torch.save({"model": {}, "epoch": 0, "hook": random.Random}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="weights only"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an effl training checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def test_rng_states_round_trip_as_tensors(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in NumPy's state
    atomic_save({"rng": rng_state(), "model": {}, "epoch": 0}, tmp_path / "c.pt")
    expected = (random.random(), np.random.standard_normal(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(torch.load(tmp_path / "c.pt", weights_only=True)["rng"])
    assert (random.random(), np.random.standard_normal()) == expected[:2]
    assert torch.equal(torch.rand(3), expected[2])

"""Engine pieces: atomic writes, configuration checks, AMP choice, RNG states as tensors, DDP-free evaluation."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from effl_plugins.engine import TrainConfig, _amp_dtype, atomic_save, atomic_write_text, evaluate, load_checkpoint, rng_state, set_rng_state
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


@pytest.mark.parametrize(("kwargs", "match"), [({"epochs": 0}, "epochs"), ({"amp": "fp8"}, "amp"), ({"clip_grad": 0.0}, "clip_grad"),
                                               ({"ema_decay": 1.0}, "ema_decay"), ({"lr": 0}, "lr"), ({"seed": -1}, "seed")])
def test_bad_config_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_amp_is_off_on_cpu_by_default_and_explicit_when_asked():
    cpu = torch.device("cpu")
    assert _amp_dtype("auto", cpu) is None and _amp_dtype("off", cpu) is None
    assert _amp_dtype("bf16", cpu) == torch.bfloat16 and _amp_dtype("fp16", cpu) == torch.float16


def test_evaluate_counts_exactly():
    from effl_plugins.data import TensorImageDataset

    class Fixed(torch.nn.Module):
        def forward(self, x):  # predicts class 1 where the mean pixel is positive, else 0
            score = x.mean((1, 2, 3))
            return torch.stack([-score, score], 1)

    images = torch.tensor([255, 0, 255, 0, 255], dtype=torch.uint8).view(5, 1, 1, 1).expand(5, 3, 2, 2).contiguous()
    dataset = TensorImageDataset(images, torch.tensor([1, 0, 0, 0, 1]))
    assert evaluate(Fixed(), dataset, batch_size=2) == pytest.approx(4 / 5)

"""Engine pieces: configuration checks, AMP choice, DDP-free evaluation."""

from __future__ import annotations

import pytest
import torch

from effl_plugins.engine import TrainConfig, _amp_dtype, evaluate


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

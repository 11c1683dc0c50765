"""SoftMatch's uniform alignment, truncated-Gaussian weights and EMA statistics against direct formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from effl_plugins.train import ModelInput
from effl_plugins.train.tasks.base import Batch
from effl_plugins.train.tasks.softmatch import SoftMatchTask, truncated_gaussian_weights, uniform_alignment

PROBS = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]]


def _aligned(rows, p_model):
    out = []
    for row in rows:
        scaled = [q * (1 / 3 + 1e-6) / (p + 1e-6) for q, p in zip(row, p_model)]
        out.append([v / sum(scaled) for v in scaled])
    return out


def test_uniform_alignment():
    p_model = [0.5, 0.3, 0.2]
    got = uniform_alignment(torch.tensor(PROBS, dtype=torch.float64), torch.tensor(p_model, dtype=torch.float64))
    assert got.tolist() == [pytest.approx(r) for r in _aligned(PROBS, p_model)]
    assert torch.allclose(got.sum(1), torch.ones(4, dtype=torch.float64))


def test_truncated_gaussian_weights():
    confidence, mean, var = [0.9, 0.6, 0.5, 0.2], 0.6, 0.04
    confidence_t, mean_t, var_t = (torch.tensor(v, dtype=torch.float64) for v in (confidence, mean, var))
    got = truncated_gaussian_weights(confidence_t, mean_t, var_t, n_sigma=2.0, lambda_max=1.0)
    expected = [1.0 if c >= mean else math.exp(-((c - mean) ** 2) / (2 * var / 4)) for c in confidence]
    assert got.tolist() == pytest.approx(expected, rel=1e-6)
    assert got[2].item() == pytest.approx(math.exp(-0.5), rel=1e-6)  # one sigma (= sqrt(var) / n_sigma) below
    half = truncated_gaussian_weights(confidence_t, mean_t, var_t, lambda_max=0.5)
    assert half.tolist() == pytest.approx([0.5 * e for e in expected], rel=1e-6)


class Linear(nn.Module):
    num_classes = 3

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


def _task(**kwargs):
    return SoftMatchTask(
        Linear(), ModelInput((0.5,) * 3, (0.5,) * 3), mu=2, strong="brightness(max_delta=0.2)", **kwargs
    )


def test_statistics_over_two_steps():
    task, m = _task(momentum=0.5), 0.5
    first, second = torch.tensor(PROBS), torch.tensor(PROBS[::-1]) ** 2
    second = second / second.sum(1, keepdim=True)
    task.weights(task.align(first))
    p1 = first.mean(0)  # the first step sets p_model to the batch mean
    assert task.p_model.tolist() == pytest.approx(p1.tolist()) and task.aligned_steps.item() == 1
    c1 = torch.tensor(_aligned(PROBS, p1.tolist())).max(1).values
    assert task.confidence_mean.item() == pytest.approx(m / 3 + (1 - m) * c1.mean().item(), rel=1e-6)
    assert task.confidence_var.item() == pytest.approx(m * 1.0 + (1 - m) * c1.var(unbiased=True).item(), rel=1e-6)
    weights = task.weights(task.align(second))
    p2 = m * p1 + (1 - m) * second.mean(0)
    assert task.p_model.tolist() == pytest.approx(p2.tolist(), rel=1e-6)
    c2 = torch.tensor(_aligned(second.tolist(), p2.tolist())).max(1).values
    mean2 = m * (m / 3 + (1 - m) * c1.mean().item()) + (1 - m) * c2.mean().item()
    var2 = m * (m + (1 - m) * c1.var().item()) + (1 - m) * c2.var().item()
    expected = [1.0 if c >= mean2 else math.exp(-((c - mean2) ** 2) / (2 * var2 / 4)) for c in c2.tolist()]
    assert weights.tolist() == pytest.approx(expected, rel=1e-5)


def test_forward_uses_unaligned_pseudo_labels_and_trains_the_model_only():
    task = _task()
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8, generator=g),
        torch.tensor([0, 2]),
        torch.ones(2, dtype=torch.bool),
        torch.randint(0, 256, (4, 3, 4, 4), dtype=torch.uint8, generator=g),
        torch.Generator().manual_seed(1),
    )
    out = task(batch)
    assert 0 < out["mask_rate"].item() <= 1.0
    out["loss"].backward()
    assert task.model.fc.weight.grad.abs().sum() > 0 and not any(b.requires_grad for b in task.buffers())
    assert {"p_model", "aligned_steps", "confidence_mean", "confidence_var"} <= set(task.state_dict())


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_sigma must be a finite number > 0"):
        _task(n_sigma=0)
    with pytest.raises(ValueError, match="momentum must be in"):
        _task(momentum=-0.1)

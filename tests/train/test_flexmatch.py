"""FlexMatch's learning status, convex mapping, per-class masks and per-image state against direct formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from effl_plugins.train import ModelInput
from effl_plugins.train.tasks.base import Batch
from effl_plugins.train.tasks.flexmatch import (
    FlexMatchTask,
    convex_mapping,
    flexmatch_learning_status,
    flexmatch_unlabeled_loss,
)


def _ce(logits, target):
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def _softmax(row):
    z = sum(math.exp(v) for v in row)
    return [math.exp(v) / z for v in row]


def test_learning_status_with_and_without_the_warmup():
    selected = torch.tensor([-1] * 5 + [0, 0, 1, 2, 2, 2])  # sigma = [2, 1, 3, 0], 5 unused
    assert flexmatch_learning_status(selected, 4, warmup=True).tolist() == pytest.approx([2 / 5, 1 / 5, 3 / 5, 0])
    assert flexmatch_learning_status(selected, 4, warmup=False).tolist() == pytest.approx([2 / 3, 1 / 3, 1, 0])
    fewer_unused = torch.tensor([-1, 0, 0, 1, 2, 2, 2])  # the largest class count is the normaliser
    assert flexmatch_learning_status(fewer_unused, 4).tolist() == pytest.approx([2 / 3, 1 / 3, 1, 0])
    for warmup in (True, False):
        assert flexmatch_learning_status(torch.full((6,), -1), 3, warmup).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="selected must be"):
        flexmatch_learning_status(torch.zeros(2, 2, dtype=torch.long), 3)


def test_convex_mapping():
    beta = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert convex_mapping(beta).tolist() == pytest.approx([0.0, 0.25 / 1.75, 0.5 / 1.5, 1.0])


def test_per_class_thresholds_mask_and_loss():
    weak = torch.tensor([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5], [0.0, 3.0, 0.0]], requires_grad=True)
    strong = torch.tensor([[1.0, 0.0, 0.5], [0.0, 2.0, 1.0], [0.3, 0.2, 0.1], [1.0, 1.0, 0.0]], requires_grad=True)
    beta = torch.tensor([1.0, 0.6, 0.0])
    out = flexmatch_unlabeled_loss(weak, strong, beta, threshold=0.95)
    rows, s = weak.detach().tolist(), strong.detach().tolist()
    expected_mask = []
    for row in rows:
        probs = _softmax(row)
        c = probs.index(max(probs))
        b = beta[c].item()
        expected_mask.append(1.0 if max(probs) >= 0.95 * b / (2 - b) else 0.0)
    assert expected_mask == [0.0, 1.0, 1.0, 1.0]  # class 0 needs 0.95; class 1 0.95 * 0.6 / 1.4; class 2 none
    assert out["mask"].tolist() == expected_mask
    assert out["pseudo_labels"].tolist() == [0, 1, 2, 1]
    expected = sum(m * _ce(s[i], c) for i, (m, c) in enumerate(zip(expected_mask, [0, 1, 2, 1]))) / 4
    assert out["loss"].item() == pytest.approx(expected, rel=1e-6)
    out["loss"].backward()
    assert weak.grad is None and strong.grad[0].abs().sum() == 0 and strong.grad[1:].abs().sum() > 0
    with pytest.raises(ValueError, match="beta must be"):
        flexmatch_unlabeled_loss(weak, strong, torch.zeros(4))


class Linear(nn.Module):
    num_classes = 3

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


def _task(**kwargs):
    inputs = ModelInput((0.5,) * 3, (0.5,) * 3)
    return FlexMatchTask(Linear(), inputs, num_unlabeled=10, strong="brightness(max_delta=0.2)", mu=2, **kwargs)


def test_state_keeps_the_latest_confident_class_of_each_image():
    task = _task()
    task.selected[4] = 1
    task.update_selected(torch.tensor([3, 7, 1, 4]), torch.tensor([2, 0, 1, 0]), torch.tensor([0.99, 0.5, 0.96, 0.6]))
    assert task.selected.tolist() == [-1, 1, -1, 2, 1, -1, -1, -1, -1, -1]  # 7 unconfident; 4 keeps its class
    assert task.learning_status().tolist() == pytest.approx([0, 2 / 7, 1 / 7])  # 7 unused lead the warm-up
    with pytest.raises(RuntimeError, match=r"batch.indices must lie in \[0, 10\)"):
        task.update_selected(torch.tensor([10]), torch.tensor([0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="needs batch.indices"):
        task.update_selected(None, torch.tensor([0]), torch.tensor([1.0]))
    assert "selected" in task.state_dict() and not task.selected.requires_grad


def test_forward_masks_with_the_status_before_the_step_then_updates_it():
    task = _task(threshold=0.0)  # every prediction is confident: every image of the step is recorded
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8, generator=g),
        torch.tensor([0, 2]),
        torch.ones(2, dtype=torch.bool),
        torch.randint(0, 256, (4, 3, 4, 4), dtype=torch.uint8, generator=g),
        torch.Generator().manual_seed(1),
        torch.tensor([9, 0, 5, 2]),
    )
    out = task(batch)
    assert out["mask_rate"].item() == 1.0  # tau * M(0) = 0 for every class before the first update
    assert (task.selected[[9, 0, 5, 2]] >= 0).all() and (task.selected[[1, 3, 4, 6, 7, 8]] == -1).all()
    out["loss"].backward()
    assert task.model.fc.weight.grad is not None and task.model.fc.weight.grad.abs().sum() > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_unlabeled must be an integer >= 1"):
        FlexMatchTask(Linear(), ModelInput((0.5,) * 3, (0.5,) * 3), num_unlabeled=0)

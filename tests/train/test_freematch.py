"""FreeMatch's self-adaptive thresholds and fairness term against direct formulas, and its state buffers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from effl_plugins.train import ModelInput
from effl_plugins.train.tasks.base import Batch
from effl_plugins.train.tasks.freematch import FreeMatchTask, fairness_loss, freematch_mask, freematch_update

PROBS = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]]


def test_ema_update_of_the_global_and_local_statistics():
    m = 0.9
    time_p, p_model, hist = freematch_update(
        torch.tensor(PROBS), torch.tensor(1 / 3), torch.full((3,), 1 / 3), torch.full((3,), 1 / 3), momentum=m
    )
    mean_max = (0.7 + 0.8 + 0.4 + 0.6) / 4
    assert time_p.item() == pytest.approx(m / 3 + (1 - m) * mean_max)
    for k in range(3):
        mean_k = sum(row[k] for row in PROBS) / 4
        assert p_model[k].item() == pytest.approx(m / 3 + (1 - m) * mean_k)
    assert hist.tolist() == pytest.approx([m / 3 + (1 - m) * h for h in (2 / 4, 1 / 4, 1 / 4)])
    with pytest.raises(ValueError, match="momentum must be in"):
        freematch_update(torch.tensor(PROBS), time_p, p_model, hist, momentum=1.5)


def test_mask_is_the_global_threshold_scaled_per_class():
    probs, time_p, p_model = torch.tensor(PROBS), torch.tensor(0.62), torch.tensor([0.5, 0.4, 0.1])
    local = [p / 0.5 for p in (0.5, 0.4, 0.1)]
    expected = [1.0 if max(row) >= 0.62 * local[row.index(max(row))] else 0.0 for row in PROBS]
    assert expected == [1.0, 1.0, 1.0, 0.0]  # 0.7 >= 0.62; 0.8 >= 0.496; 0.4 >= 0.124; 0.6 < 0.62
    assert freematch_mask(probs, time_p, p_model).tolist() == expected


def _sum_norm(values):
    total = sum(values)
    return [v / total for v in values]


def test_fairness_term_against_its_formula_and_its_gradient():
    strong = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.5], [1.0, 0.2, 0.0], [0.0, 0.0, 3.0]], requires_grad=True)
    mask = torch.tensor([1.0, 1.0, 1.0, 0.0])
    p_model, label_hist = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0.6, 0.4, 0.0])
    loss = fairness_loss(strong, mask, p_model, label_hist)
    rows = [[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in strong.detach().tolist()[:3]]
    hist = [2 / 3, 1 / 3, 0.0]  # argmax of the kept strong predictions: 0, 1, 0
    target = _sum_norm([p / h if h else 0.0 for p, h in zip([0.5, 0.3, 0.2], [0.6, 0.4, 0.0])])
    mean = _sum_norm([sum(r[k] for r in rows) / 3 / hist[k] if hist[k] else 0.0 for k in range(3)])
    expected = sum(t * math.log(q + 1e-12) for t, q in zip(target, mean))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()
    assert strong.grad[3].abs().sum() == 0 and strong.grad[:3].abs().sum() > 0
    none = fairness_loss(strong, torch.zeros(4), p_model, label_hist)
    assert none.item() == 0.0


class Linear(nn.Module):
    num_classes = 3

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_task_updates_its_buffers_before_masking_and_trains_the_model_only():
    task = FreeMatchTask(
        Linear(),
        ModelInput((0.5,) * 3, (0.5,) * 3),
        momentum=0.5,
        lambda_f=0.01,
        mu=2,
        strong="brightness(max_delta=0.2)",
    )
    assert task.time_p.item() == pytest.approx(1 / 3) and task.p_model.tolist() == pytest.approx([1 / 3] * 3)
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8, generator=g),
        torch.tensor([0, 2]),
        torch.ones(2, dtype=torch.bool),
        torch.randint(0, 256, (4, 3, 4, 4), dtype=torch.uint8, generator=g),
        torch.Generator().manual_seed(1),
    )
    task.train()
    _, weak, _ = task.view_logits(Batch(**{**batch.__dict__, "generator": torch.Generator().manual_seed(1)}))
    probs = torch.softmax(weak.detach(), 1)
    out = task(batch)
    assert task.time_p.item() == pytest.approx(0.5 / 3 + 0.5 * probs.max(1).values.mean().item(), rel=1e-6)
    assert task.p_model.tolist() == pytest.approx((0.5 / 3 + 0.5 * probs.mean(0)).tolist(), rel=1e-6)
    assert out["mask_rate"].item() == freematch_mask(probs, task.time_p, task.p_model).mean().item()
    out["loss"].backward()
    assert task.model.fc.weight.grad.abs().sum() > 0
    assert not any(b.requires_grad for b in task.buffers())
    assert {"time_p", "p_model", "label_hist"} <= set(task.state_dict())


def test_bad_arguments():
    inputs = ModelInput((0.5,) * 3, (0.5,) * 3)
    with pytest.raises(ValueError, match="lambda_f must be a finite number >= 0"):
        FreeMatchTask(Linear(), inputs, lambda_f=-1.0)
    with pytest.raises(ValueError, match="momentum must be in"):
        FreeMatchTask(Linear(), inputs, momentum=2)

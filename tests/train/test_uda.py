"""UDA's sharpened, masked KL consistency and training signal annealing against direct formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from effl_plugins.train import ModelInput
from effl_plugins.train.tasks.uda import UDATask, tsa_supervised_loss, tsa_threshold, uda_unlabeled_loss


def _softmax(row, t=1.0):
    z = sum(math.exp(v / t) for v in row)
    return [math.exp(v / t) / z for v in row]


@pytest.mark.parametrize("progress", [0.0, 0.3, 1.0])
def test_tsa_schedules(progress):
    k = 10
    alphas = {"linear": progress, "log": 1 - math.exp(-5 * progress), "exp": math.exp(5 * (progress - 1))}
    for schedule, alpha in alphas.items():
        assert tsa_threshold(schedule, progress, k) == pytest.approx(alpha * (1 - 1 / k) + 1 / k)
    assert tsa_threshold("none", progress, k) == 1.0
    with pytest.raises(ValueError, match="tsa must be one of none, linear, log, exp"):
        tsa_threshold("cosine", progress, k)


def test_tsa_drops_the_labeled_images_already_learned():
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.2]], requires_grad=True)
    targets = torch.tensor([0, 1, 0])
    out = tsa_supervised_loss(logits, targets, threshold=0.6)
    own = [_softmax(r)[t] for r, t in zip(logits.detach().tolist(), targets.tolist())]  # 0.909, 0.576, 0.301
    kept = [1.0 if p <= 0.6 else 0.0 for p in own]
    assert out["kept"].tolist() == kept == [0.0, 1.0, 1.0]
    assert out["loss"].item() == pytest.approx((-math.log(own[1]) - math.log(own[2])) / 2, rel=1e-6)
    out["loss"].backward()
    assert logits.grad[0].abs().sum() == 0
    assert tsa_supervised_loss(logits, targets, 1.0)["loss"].item() == pytest.approx(-sum(map(math.log, own)) / 3)
    assert tsa_supervised_loss(logits, targets, 0.1)["loss"].item() == 0.0


def test_unlabeled_loss_is_the_masked_kl_to_the_sharpened_weak_prediction():
    weak = torch.tensor([[3.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 2.5, 0.0]], requires_grad=True)
    strong = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.1, 0.3]], requires_grad=True)
    out = uda_unlabeled_loss(weak, strong, temperature=0.4, threshold=0.8)
    expected_mask, total = [], 0.0
    for w, s in zip(weak.detach().tolist(), strong.detach().tolist()):
        keep = 1.0 if max(_softmax(w)) >= 0.8 else 0.0  # 0.909 keep, 0.452 drop, 0.859 keep
        target, student = _softmax(w, 0.4), _softmax(s)
        total += keep * sum(p * (math.log(p) - math.log(q)) for p, q in zip(target, student))
        expected_mask.append(keep)
    assert out["mask"].tolist() == expected_mask == [1.0, 0.0, 1.0]
    assert out["loss"].item() == pytest.approx(total / 3, rel=1e-5)
    assert out["targets"][0].tolist() == pytest.approx(_softmax([3.0, 0.0, 0.0], 0.4))
    out["loss"].backward()
    assert weak.grad is None and strong.grad[1].abs().sum() == 0 and strong.grad[0].abs().sum() > 0


class Linear(nn.Module):
    num_classes = 10

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 10)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def test_task_progress_and_arguments():
    inputs = ModelInput((0.5,) * 3, (0.5,) * 3)
    task = UDATask(Linear(), inputs, tsa="linear")
    task.set_progress(1, 5, 10, 4)
    assert task.progress == pytest.approx(15 / 40) and task.num_classes == 10
    assert (task.temperature, task.threshold, task.unlabeled_ratio) == (0.4, 0.8, 7)
    with pytest.raises(ValueError, match="tsa must be one of"):
        UDATask(Linear(), inputs, tsa="fast")
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        UDATask(Linear(), inputs, temperature=0.0)

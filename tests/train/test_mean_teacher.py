"""Mean Teacher's teacher as the paper's code runs it: a train-mode forward (the batch's BatchNorm
statistics) with running statistics of its own, and the EMA decay warm-up ``min(1 - 1/(t+1), decay)``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from effl_plugins.testing import small_digits
from effl_plugins.train import Batch
from effl_plugins.train.tasks import MeanTeacherTask, ema_decay_at, ema_update
from effl_plugins.train.tasks.mean_teacher import running_stats_frozen

from ._helpers import model, model_input


@pytest.fixture(scope="module")
def data():
    return small_digits(labeled=20, test=40, unlabeled=48)


def _batch(data, labeled: int = 8, unlabeled: int = 24, seed: int = 0) -> Batch:
    images = torch.stack([data.labeled[i][0] for i in range(labeled)])
    targets = torch.tensor([data.labeled[i][1] for i in range(labeled)])
    extra = torch.stack([data.unlabeled[i][0] for i in range(unlabeled)])
    return Batch(
        images, targets, torch.ones(labeled, dtype=torch.bool), extra, torch.Generator().manual_seed(seed), None
    )


def test_decay_warm_up_follows_the_paper_code():
    assert ema_decay_at(1, 0.99) == 0.5  # the first update: the mean of the initial and the first weights
    assert ema_decay_at(3, 0.99) == pytest.approx(0.75)
    assert ema_decay_at(99, 0.99) == pytest.approx(0.99)
    assert ema_decay_at(10_000, 0.99) == 0.99
    assert ema_decay_at(5, 0.0) == 0.0


def test_teacher_forward_in_training_uses_the_batch_statistics(data):
    task = MeanTeacherTask(model(), model_input(data))
    task.train()
    modes = []
    for m in task.teacher.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_pre_hook(lambda mod, args: modes.append(mod.training))
    task(_batch(data))
    assert modes and all(modes), "the teacher's BatchNorm ran on running statistics during training"
    task.eval()
    assert not any(m.training for m in task.teacher.modules())  # evaluation: its own running statistics


def test_teacher_keeps_its_own_running_statistics(data):
    task = MeanTeacherTask(model(), model_input(data), ema_decay=0.5, ema_decay_after=0.5, rampup_epochs=0)
    task.train()
    task.set_progress(0, 0, 10, 1)
    task(_batch(data))
    bn_t = next(m for m in task.teacher.modules() if isinstance(m, nn.BatchNorm2d))
    bn_s = next(m for m in task.model.modules() if isinstance(m, nn.BatchNorm2d))
    teacher_stats = bn_t.running_mean.clone()
    task.after_step()
    assert torch.equal(bn_t.running_mean, teacher_stats)  # not overwritten by the student's
    assert not torch.equal(bn_t.running_mean, bn_s.running_mean)


def test_ema_update_without_copying_buffers_leaves_them():
    teacher = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    student = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    student[1].running_mean.fill_(5.0)
    ema_update(teacher, student, 0.5, copy_buffers=False)
    assert torch.equal(teacher[1].running_mean, torch.zeros(3))
    ema_update(teacher, student, 0.5)
    assert torch.equal(teacher[1].running_mean, torch.full((3,), 5.0))


def test_fresh_teacher_predictions_are_not_collapsed_onto_one_class(data):
    """A few steps in, the teacher's training-time predictions on an unlabeled batch spread over classes
    (with eval-mode statistics copied from the student they fell nearly all into one class)."""
    torch.manual_seed(0)
    task = MeanTeacherTask(model(), model_input(data), ema_decay=0.99, ema_decay_after=0.99, rampup_epochs=1)
    optimizer = torch.optim.AdamW(task.trainable.parameters(), lr=3e-3)
    task.train()
    shares = []
    for step in range(6):
        task.set_progress(0, step, 6, 1)
        batch = _batch(data, seed=step)
        out = task(batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        task.after_step()
        with torch.no_grad():
            predictions = task.teacher(task.model_input(batch.unlabeled)).argmax(1)
        shares.append(torch.bincount(predictions, minlength=10).max().item() / len(predictions))
    assert max(shares[1:]) < 0.9, shares


def test_labeled_cross_entropy_is_learned_under_the_labeled_images_statistics_alone(data):
    """The student's labeled forward runs alone (as USB's): its logits, and the BatchNorm running statistics
    after the step, do not depend on the unlabeled images in the batch."""
    outputs, stats = [], []
    for unlabeled_seed in (0, 1):
        torch.manual_seed(0)
        task = MeanTeacherTask(model(), model_input(data))
        task.train()
        batch = _batch(data)
        shuffled = batch.unlabeled[torch.randperm(len(batch.unlabeled), generator=torch.Generator().manual_seed(7))]
        extra = batch.unlabeled if unlabeled_seed == 0 else 255 - shuffled
        out = task(Batch(batch.images, batch.targets, batch.labeled, extra, torch.Generator().manual_seed(0), None))
        outputs.append(out["output"].detach())
        stats.append(next(m for m in task.model.modules() if isinstance(m, nn.BatchNorm2d)).running_mean.clone())
    assert torch.equal(outputs[0], outputs[1])
    assert torch.equal(stats[0], stats[1])


def test_running_stats_frozen_uses_batch_statistics_and_restores_everything():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.BatchNorm2d(4, momentum=None)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(6, 3, 5, 5) * 3 + 2
    with running_stats_frozen(net):
        frozen = net(x)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert net[1].momentum == 0.1 and net[2].momentum is None
    assert torch.allclose(frozen.mean((0, 2, 3)), torch.zeros(4), atol=1e-5)  # the batch's statistics
    net(x)
    assert not torch.equal(net[1].running_mean, before["1.running_mean"])  # outside the block they move again

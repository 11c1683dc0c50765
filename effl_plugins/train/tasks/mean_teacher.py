"""Mean Teacher (Tarvainen & Valpola 2017, "Mean teachers are better role models"): the teacher's
weights are an exponential moving average of the student's, ``t <- decay * t + (1 - decay) * s``
after every step (``ema_decay`` during the ramp-up, ``ema_decay_after`` afterwards, both capped by the
warm-up ``1 - 1 / (t + 1)`` at update ``t``, so the first updates follow the student closely); the
student learns the labels plus a consistency cost on the unlabeled images, the mean squared difference
of the two softmaxes on differently noised views, weighted by
``consistency * exp(-5 (1 - step / rampup)^2)``. The teacher is the model evaluated and saved.

Three forwards a step, as USB runs the method (``semilearn/algorithms/meanteacher``): the student on the
labeled images (BatchNorm statistics from them alone), the teacher on the unlabeled images, and the
student on another noised view of them with its running statistics left as they are
(:func:`running_stats_frozen`). As in the paper's code (``ema_model.train()``), the teacher runs in train
mode and keeps its own running statistics, which belong to its averaged weights.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import fraction, integer, non_negative
from ..inputs import ModelInput
from .base import Batch, Task
from .consistency import PLAIN_CROSS_ENTROPY, make_view, view_refusals

__all__ = [
    "MeanTeacherTask",
    "MeanTeacherArguments",
    "ema_update",
    "ema_decay_at",
    "running_stats_frozen",
    "sigmoid_rampup",
    "softmax_mse",
]


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float, *, copy_buffers: bool = True) -> None:
    """In place: each parameter ``t <- decay * t + (1 - decay) * s``; ``copy_buffers``: the student's buffers too."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay!r}")
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(decay).add_(s.detach(), alpha=1.0 - decay)
    if copy_buffers:
        for t, s in zip(teacher.buffers(), student.buffers()):
            t.copy_(s)


def ema_decay_at(update: int, decay: float) -> float:
    """The decay of EMA update number ``update`` (1 for the first): ``min(1 - 1 / (update + 1), decay)``, the
    paper code's warm-up."""
    return min(1.0 - 1.0 / (max(update, 0) + 1), decay)


@contextlib.contextmanager
def running_stats_frozen(model: nn.Module) -> Iterator[None]:
    """Within the block, ``model``'s BatchNorm layers in train mode normalise with the batch's statistics
    but leave their running statistics (and batch counts) as they were."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None) for m in layers]
    for m in layers:
        m.momentum = 0.0  # running <- (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, (momentum, count) in zip(layers, saved):
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


def sigmoid_rampup(step: int, length: int) -> float:
    """``exp(-5 (1 - min(step, length) / length)^2)``; 1.0 when ``length == 0``."""
    if length <= 0:
        return 1.0
    phase = 1.0 - min(max(step, 0), length) / length
    return math.exp(-5.0 * phase * phase)


def softmax_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean over batch and classes of ``(softmax(s) - softmax(t))^2``; no gradient to the teacher.

    Shape: ``[B, K]``, ``[B, K]`` -> scalar.
    """
    return F.mse_loss(torch.softmax(student_logits.float(), 1), torch.softmax(teacher_logits.detach().float(), 1))


@dataclass(frozen=True)
class MeanTeacherArguments:
    """Mean Teacher's arguments.

    Args:
        ema_decay, ema_decay_after: teacher EMA decay during and after the ramp-up (0.99, 0.999).
        consistency: maximum weight of the consistency cost; rampup_epochs: its sigmoid ramp-up.
        mu: unlabeled images per labeled image in a step.
        noise: batch augmentation SPEC (or module) of each forward's input noise; None is FixMatch's weak view
            (``flip=False`` drops its flip).
    """

    ema_decay: float = 0.99
    ema_decay_after: float = 0.999
    consistency: float = 10.0
    rampup_epochs: float = 5.0
    mu: int = 1
    noise: Any = None
    flip: bool = True

    def __post_init__(self) -> None:
        for key in ("ema_decay", "ema_decay_after"):
            fraction(getattr(self, key), key)
        for key in ("consistency", "rampup_epochs"):
            non_negative(getattr(self, key), key)
        integer(self.mu, "mu (unlabeled ratio)", low=1)


class MeanTeacherTask(Task):
    """EMA-teacher consistency training (the teacher starts as the student's copy); ``**arguments``:
    :class:`MeanTeacherArguments`."""

    Arguments = MeanTeacherArguments
    batch_augmentation = False
    refused_settings = {**view_refusals("--strategy-arg noise=SPEC"), "smoothing": PLAIN_CROSS_ENTROPY}

    def __init__(self, model: nn.Module, model_input: ModelInput, **arguments: Any):
        super().__init__(model, model_input)
        self.arguments = a = self.Arguments(**arguments)
        self.teacher = copy.deepcopy(model).requires_grad_(False)
        self.ema_decay, self.ema_decay_after, self.consistency = a.ema_decay, a.ema_decay_after, a.consistency
        self.rampup_epochs, self.unlabeled_ratio = a.rampup_epochs, a.mu
        self.noise = make_view(a.noise, flip=a.flip)
        self.step_index, self.rampup_steps = 0, 0

    def eval_model(self) -> nn.Module:
        return self.teacher

    def set_progress(self, epoch: int, step: int, steps_per_epoch: int, epochs: int) -> None:
        self.step_index = epoch * steps_per_epoch + step
        self.rampup_steps = int(self.rampup_epochs * steps_per_epoch)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        g = batch.generator
        labeled_logits = self.net(self.model_input(self.noise(batch.images, g)))
        with torch.no_grad():
            teacher_logits = self.teacher(self.model_input(self.noise(batch.unlabeled, g)))
        with running_stats_frozen(self.model):
            student_logits = self.net(self.model_input(self.noise(batch.unlabeled, g)))
        supervised = F.cross_entropy(labeled_logits.float(), batch.targets)
        weight = self.consistency * sigmoid_rampup(self.step_index, self.rampup_steps)
        consistency = softmax_mse(student_logits, teacher_logits)
        return {
            "loss": supervised + weight * consistency,
            "loss_x": supervised.detach(),
            "consistency": consistency.detach(),
            "output": labeled_logits,
        }

    def after_step(self) -> None:
        decay = self.ema_decay if self.step_index < self.rampup_steps else self.ema_decay_after
        ema_update(self.teacher, self.model, ema_decay_at(self.step_index + 1, decay), copy_buffers=False)

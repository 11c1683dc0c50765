"""Mean Teacher (Tarvainen & Valpola 2017, "Mean teachers are better role models"): the teacher's
weights are an exponential moving average of the student's, ``t <- decay * t + (1 - decay) * s``
after every step (decay 0.99 during the ramp-up, 0.999 after); the student learns the labels plus a
consistency cost, the mean squared difference of the two softmaxes on differently noised views,
weighted by ``consistency * exp(-5 (1 - step / rampup)^2)``. The teacher is the model reported.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import atomic_write_text
from ..data import DataBundle
from ..engine import evaluate, normalize, seed_everything
from ..strategies.base import Strategy
from .consistency import EpochCheckpoint, paired_batches, steps_per_epoch, weak_augment
from .training import build_model

__all__ = ["MeanTeacher", "ema_update", "sigmoid_rampup", "softmax_mse"]


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    """In place on ``teacher``: each float parameter ``t <- decay * t + (1 - decay) * s``; buffers
    (BatchNorm statistics) are copied from the student."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay!r}")
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(decay).add_(s.detach(), alpha=1.0 - decay)
    for t, s in zip(teacher.buffers(), student.buffers()):
        t.copy_(s)


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
    return F.mse_loss(torch.softmax(student_logits, 1), torch.softmax(teacher_logits.detach(), 1))


class MeanTeacher(Strategy):
    """EMA-teacher consistency training.

    Args:
        ema_decay: EMA decay during the ramp-up (0.99 in the paper); ``ema_decay_after`` afterwards (0.999).
        consistency: maximum weight of the consistency cost; ``rampup_epochs`` its sigmoid ramp-up.
        mu: unlabeled images per labeled image in a step.
        flip, max_shift: the input noise (random flip and translation), drawn independently for both models.
        model, epochs, batch_size, lr, weight_decay, seed, device: as in ``Strategy``.
    """

    name = "mean_teacher"

    def __init__(self, model: str = "test_resnet", ema_decay: float = 0.99, ema_decay_after: float = 0.999,
                 consistency: float = 10.0, rampup_epochs: float = 5.0, mu: int = 1, flip: bool = True,
                 max_shift: float = 0.125, **kwargs):
        super().__init__(model=model, **kwargs)
        for key, value in (("ema_decay", ema_decay), ("ema_decay_after", ema_decay_after)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], got {value!r}")
        if not consistency >= 0 or not rampup_epochs >= 0:
            raise ValueError(f"consistency and rampup_epochs must be >= 0, got {consistency!r} and {rampup_epochs!r}")
        if isinstance(mu, bool) or not isinstance(mu, int) or mu < 1:
            raise ValueError(f"mu (unlabeled ratio) must be an integer >= 1, got {mu!r}")
        self.ema_decay, self.ema_decay_after, self.consistency = ema_decay, ema_decay_after, consistency
        self.rampup_epochs, self.mu, self.flip, self.max_shift = rampup_epochs, mu, flip, max_shift

    def run(self, data: DataBundle, *, out_dir=None, resume: bool = False) -> dict[str, Any]:
        if data.unlabeled is None or len(data.unlabeled) == 0:
            raise ValueError(f"strategy {self.name!r} needs unlabeled images: data {data.name!r} has none")
        cfg = self.config
        student = build_model(self.model, data.num_classes, cfg.seed).to(cfg.device)
        teacher = copy.deepcopy(student).eval().requires_grad_(False)
        optimizer = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        generator = torch.Generator().manual_seed(cfg.seed)
        steps = steps_per_epoch(data.unlabeled, cfg.batch_size, self.mu)
        rampup = int(self.rampup_epochs * steps)
        seed_everything(cfg.seed)
        checkpoint = EpochCheckpoint(out_dir, resume)
        parts = {"models": {"model": teacher, "student": student}, "optimizer": optimizer, "generator": generator}
        state = checkpoint.restore(**parts, steps_per_epoch=steps)
        done, history = (state["epoch"], state["history"]) if state is not None else (0, [])
        step = done * steps
        next_batch = paired_batches(data.labeled, data.unlabeled, cfg.batch_size, self.mu, cfg.seed, start=step)
        for epoch in range(done, cfg.epochs):
            student.train()
            for _ in range(steps):
                x_l, y_l, x_u = (t.to(cfg.device) for t in next_batch())
                x = torch.cat([x_l, x_u])
                student_logits = student(normalize(weak_augment(x, generator, self.flip, self.max_shift)))
                with torch.no_grad():
                    teacher_logits = teacher(normalize(weak_augment(x, generator, self.flip, self.max_shift)))
                weight = self.consistency * sigmoid_rampup(step, rampup)
                loss = F.cross_entropy(student_logits[: len(x_l)], y_l) + weight * softmax_mse(student_logits, teacher_logits)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                ema_update(teacher, student, self.ema_decay if step < rampup else self.ema_decay_after)
            history.append({"epoch": epoch + 1, "accuracy": evaluate(teacher, data.test, cfg.device),
                            "student_accuracy": evaluate(student, data.test, cfg.device)})
            checkpoint.save(**parts, epoch=epoch + 1, history=history, steps_per_epoch=steps)
        self.trained_model, self.student = teacher, student
        result = {"strategy": self.name, "best_accuracy": max(h["accuracy"] for h in history),
                  "final_accuracy": history[-1]["accuracy"], "epochs": cfg.epochs, "history": history}
        if out_dir is not None:
            atomic_write_text(Path(out_dir) / "summary.json", json.dumps(result, indent=2) + "\n")
        return result

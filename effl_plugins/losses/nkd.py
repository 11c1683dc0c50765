"""Normalized knowledge distillation (Yang, Zeng, Li, Zhang, Yuan & Li ICCV 2023, "From Knowledge
Distillation to Self-Knowledge Distillation: A Unified Approach with Normalized Loss and Customized
Soft Labels").

KD splits into a target-class term and a non-target term whose distributions are renormalized over
the ``K - 1`` non-target classes, so that the student's non-target mass no longer scales the loss:

- target: ``-mean_b t_gt * log s_gt`` with ``t = softmax(teacher)``, ``s = softmax(student)`` at
  temperature 1 (the teacher's target probability weights the student's log-likelihood);
- non-target: ``-gamma * T^2 * mean_b sum_{k != gt} softmax(t_rest / T)_k * log softmax(s_rest / T)_k``,
  a cross-entropy between the renormalized non-target distributions.

``loss = ce_weight * CE(s, y) + target + non_target``; ``T = 1``, ``gamma = 1.5`` and
``ce_weight = 1`` are the official defaults (``yzd-v/cls_KD``'s ``NKDLoss``, the student's own CE
term kept beside it). As in the official code, the non-target term is a cross-entropy, not a KL: its
value carries the teacher's entropy (a constant for the student). The target class,
``target_from_teacher`` and masked teacher classes: ``target_class.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import as_float, check_non_negative
from .target_class import TargetClassLoss

__all__ = ["NKDLoss", "normalized_kd"]


def normalized_kd(student_logits, teacher_logits, gt, temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(target, non_target)`` before ``gamma``, in float32 (or wider); ``non_target`` includes ``T^2``."""
    student = as_float(student_logits)
    teacher = as_float(teacher_logits.detach()).to(student.dtype)
    gt = gt[:, None]
    target = -(F.softmax(teacher, -1).gather(1, gt) * F.log_softmax(student, -1).gather(1, gt)).mean()
    keep = torch.ones_like(student, dtype=torch.bool).scatter_(1, gt, False)
    rest_s = student[keep].view(len(student), -1) / temperature
    rest_t = teacher[keep].view(len(teacher), -1) / temperature
    non_target = -(F.softmax(rest_t, -1) * F.log_softmax(rest_s, -1)).sum(-1).mean() * temperature**2
    return target, non_target


class NKDLoss(TargetClassLoss):
    """Normalized KD: ``ce_weight * CE + target + gamma * non_target``.

    Args:
        temperature: T > 0 of the non-target term (1). gamma: its weight >= 0 (1.5).
        ce_weight: weight >= 0 of the student's CE when targets are given (1).
        target_from_teacher: without targets, take the teacher's argmax as the target class.
        teacher_classes: optional teacher class index per student class.

    Shape:
        student_logits ``[B, K]`` (K >= 2), teacher_logits ``[B, K]`` (``[B, K_teacher]`` with
        teacher_classes), targets ``[B]`` int or ``[B, K]`` probabilities.
        Returns ``{"loss", "target", "non_target"}`` (``non_target`` without ``gamma``) plus ``"ce"`` with targets.

    Example:
        >>> nkd = NKDLoss()
        >>> out = nkd(torch.randn(4, 10, requires_grad=True), torch.randn(4, 10), torch.arange(4))
        >>> sorted(out)
        ['ce', 'loss', 'non_target', 'target']
    """

    name = "nkd"

    def __init__(
        self,
        temperature: float = 1.0,
        gamma: float = 1.5,
        ce_weight: float = 1.0,
        target_from_teacher: bool = False,
        teacher_classes=None,
    ):
        super().__init__(temperature, ce_weight, target_from_teacher, teacher_classes)
        self.gamma = check_non_negative(gamma, "gamma")

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        student_logits, teacher_logits, gt = self.target_logits(student_logits, teacher_logits, targets)
        target, non_target = normalized_kd(student_logits, teacher_logits, gt, self.temperature)
        out = {"loss": target + self.gamma * non_target, "target": target, "non_target": non_target}
        return self.with_ce(out, student_logits, targets)

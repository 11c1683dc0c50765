"""Decoupled knowledge distillation (Zhao et al. CVPR 2022, "Decoupled Knowledge Distillation").

KD splits into a target-class part and a non-target part, weighted separately:
``TCKD = T^2 * KL(b_t || b_s)`` over the binary ``[p_gt, 1 - p_gt]`` of each softened distribution,
``NCKD = T^2 * KL(q_t || q_s)`` over the distributions renormalized on the non-target classes,
both summed over classes and averaged over the batch (the authors' ``sum / B``).
``loss = ce_weight * CE(s, y) + w * (alpha * TCKD + beta * NCKD)``, defaults ``alpha=1, beta=8,
T=4, ce_weight=1`` as in the paper. ``w = min(epoch / warmup, 1)`` when ``warmup > 0`` (the
authors use 20 epochs and count epochs from 1; pass ``epoch=`` in the call), else 1.
The target class, ``target_from_teacher`` and masked teacher classes: ``target_class.py``.
Log-probabilities are exact log-sum-exp differences, so ±1e4 logits stay finite.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import integer, non_negative
from .base import as_float, check_non_negative
from .functional import kl_div_log_target
from .target_class import TargetClassLoss

__all__ = ["DKDLoss", "decoupled_kd"]


def _binary_and_rest(logits: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log [p_gt, 1 - p_gt]`` ``[B, 2]`` and the non-target logits ``[B, K - 1]``."""
    target_mask = F.one_hot(gt, logits.shape[-1]).bool()
    rest = logits[~target_mask].view(logits.shape[0], -1)
    log_total = torch.logsumexp(logits, -1)
    log_binary = torch.stack([logits[target_mask] - log_total, torch.logsumexp(rest, -1) - log_total], -1)
    return log_binary, rest


def decoupled_kd(student_logits, teacher_logits, gt, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(TCKD, NCKD)``, each ``T^2``-scaled and averaged over the batch, in float32 (or wider)."""
    student = as_float(student_logits) / temperature
    teacher = as_float(teacher_logits.detach()).to(student.dtype) / temperature
    log_b_s, rest_s = _binary_and_rest(student, gt)
    log_b_t, rest_t = _binary_and_rest(teacher, gt)
    tckd = kl_div_log_target(log_b_s, log_b_t) * temperature**2
    nckd = kl_div_log_target(F.log_softmax(rest_s, -1), F.log_softmax(rest_t, -1)) * temperature**2
    return tckd, nckd


class DKDLoss(TargetClassLoss):
    """Decoupled KD: ``ce_weight * CE + w * (alpha * TCKD + beta * NCKD)``.

    Args:
        alpha: TCKD weight >= 0. beta: NCKD weight >= 0. temperature: T > 0.
        ce_weight: CE weight >= 0 when targets are given. warmup: epochs of linear ramp (0: none).
        target_from_teacher: without targets, take the teacher's argmax as the target class.
        teacher_classes: optional teacher class index per student class.

    Shape:
        student_logits ``[B, K]`` (K >= 2), teacher_logits ``[B, K]`` (``[B, K_teacher]`` with
        teacher_classes), targets ``[B]`` int or ``[B, K]`` probabilities.
        Returns ``{"loss", "tckd", "nckd"}`` plus ``"ce"`` when targets are given.

    Example:
        >>> dkd = DKDLoss()
        >>> out = dkd(torch.randn(4, 10, requires_grad=True), torch.randn(4, 10), torch.arange(4))
        >>> sorted(out)
        ['ce', 'loss', 'nckd', 'tckd']
    """

    name = "dkd"

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 8.0,
        temperature: float = 4.0,
        ce_weight: float = 1.0,
        warmup: int = 0,
        target_from_teacher: bool = False,
        teacher_classes=None,
    ):
        super().__init__(temperature, ce_weight, target_from_teacher, teacher_classes)
        self.alpha = check_non_negative(alpha, "alpha")
        self.beta = check_non_negative(beta, "beta")
        self.warmup = integer(warmup, "warmup", low=0, note="epochs")

    def _ramp(self, epoch) -> float:
        if self.warmup == 0:
            return 1.0
        return min(non_negative(epoch, "epoch", note=f"needed with warmup={self.warmup}") / self.warmup, 1.0)

    def forward(self, student_logits, teacher_logits=None, targets=None, *, epoch=None, **features):
        student_logits, teacher_logits, gt = self.target_logits(student_logits, teacher_logits, targets)
        tckd, nckd = decoupled_kd(student_logits, teacher_logits, gt, self.temperature)
        total = self._ramp(epoch) * (self.alpha * tckd + self.beta * nckd)
        return self.with_ce({"loss": total, "tckd": tckd, "nckd": nckd}, student_logits, targets)

"""KD on standardized logits (Sun et al. CVPR 2024, "Logit Standardization in Knowledge Distillation").

Student and teacher logits are z-scored per sample before the softmax,
``Z(z) = (z - mean(z)) / (std(z) + 1e-7)`` (``std`` unbiased, as in the authors' code), so the
student matches the teacher's logit *relations* rather than their range; then Hinton's KD with a
base temperature: ``KD = T^2 * KL(softmax(Z(t) / T) || softmax(Z(s) / T))``, batchmean.
``loss = kd_weight * KD + ce_weight * CE(s, y)``; the defaults ``T = 2, kd_weight = 9,
ce_weight = 0.1`` are the authors' KD setting on CIFAR-100. Without targets: ``kd_weight * KD``.
A constant row standardizes to zeros (the variance is clamped at ``1e-14`` before the square
root, which leaves every other row exact and keeps the gradient finite).
"""

from __future__ import annotations

import torch

from .base import DistillationLoss, as_float, check_non_negative, check_positive
from .functional import kd_divergence

__all__ = ["LogitStdKDLoss", "standardize_logits"]


def standardize_logits(logits: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Per-row ``(z - mean) / (std + eps)`` in float32 (or wider); ``[B, K]`` -> ``[B, K]``."""
    z = as_float(logits)
    centered = z - z.mean(-1, keepdim=True)
    std = z.var(-1, keepdim=True).clamp_min(eps * eps).sqrt()
    return centered / (std + eps)


class LogitStdKDLoss(DistillationLoss):
    """Hinton KD between z-scored student and teacher logits.

    Args:
        temperature: base temperature T > 0. kd_weight, ce_weight: term weights >= 0.
        teacher_classes: optional teacher class index per student class.

    Shape:
        student_logits ``[B, K]`` (K >= 2), teacher_logits ``[B, K]`` (``[B, K_teacher]`` with
        teacher_classes), targets ``[B]`` int or ``[B, K]``. Returns ``{"loss", "kd"}`` plus ``"ce"``.

    Example:
        >>> loss = LogitStdKDLoss()
        >>> out = loss(torch.randn(4, 10, requires_grad=True), torch.randn(4, 10) * 5)
        >>> sorted(out)
        ['kd', 'loss']
    """

    def __init__(self, temperature: float = 2.0, kd_weight: float = 9.0, ce_weight: float = 0.1, teacher_classes=None):
        super().__init__(teacher_classes)
        self.temperature = check_positive(temperature, "temperature")
        self.kd_weight = check_non_negative(kd_weight, "kd_weight")
        self.ce_weight = check_non_negative(ce_weight, "ce_weight")

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        student_logits, teacher_logits = self.logits(student_logits, teacher_logits, targets)
        if student_logits.shape[-1] < 2:
            raise ValueError(f"logit_std_kd needs at least 2 classes to standardize, got {list(student_logits.shape)}")
        student = standardize_logits(student_logits)
        kd = kd_divergence(student, standardize_logits(teacher_logits).to(student.dtype), self.temperature)
        return self.with_ce({"loss": self.kd_weight * kd, "kd": kd}, student_logits, targets)

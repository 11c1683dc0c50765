"""Soft-target cross-entropy: the soft distillation of DeiT (Touvron et al. 2021, "Training
data-efficient image transformers & distillation through attention"), timm's SoftTargetCrossEntropy
applied to the teacher's softened distribution.

``soft = T^2 * mean_b( -sum_k softmax(t / T)_k * log_softmax(s / T)_k )`` (batchmean). It differs
from ``kd`` by the teacher's entropy, a constant: same gradient, but the value does not reach 0.
DeiT divides its sum by ``B * K`` (``numel``) instead of ``B``; here it is ``batchmean`` like ``kd``,
so DeiT's value is ours divided by ``K``. With ``targets``:
``loss = alpha * soft + (1 - alpha) * CE(s, targets)``, DeiT's defaults ``alpha=0.5, T=1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DistillationLoss, as_float, check_fraction, check_positive, cross_entropy

__all__ = ["SoftTargetCELoss", "soft_target_cross_entropy"]


def soft_target_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * mean_b(-sum_k p_t log p_s)`` with both softened by ``T``, in float32 (or wider)."""
    log_p_student = F.log_softmax(as_float(student_logits) / temperature, dim=-1)
    p_teacher = F.softmax(as_float(teacher_logits.detach()) / temperature, dim=-1).to(log_p_student.dtype)
    return -(p_teacher * log_p_student).sum(-1).mean() * temperature**2


class SoftTargetCELoss(DistillationLoss):
    """Cross-entropy against the teacher's softened distribution (DeiT soft distillation).

    Args:
        temperature: T > 0 (DeiT's ``distillation-tau``, default 1).
        alpha: weight of the soft term when targets are given, in [0, 1] (DeiT: 0.5).
        teacher_classes: optional teacher class index per student class.

    Shape:
        student_logits ``[B, K]``, teacher_logits ``[B, K]`` (``[B, K_teacher]`` with teacher_classes),
        targets ``[B]`` int or ``[B, K]`` probabilities. Returns ``{"loss", "soft"}`` plus ``"ce"``.

    Example:
        >>> loss = SoftTargetCELoss(temperature=1.0, alpha=0.5)
        >>> out = loss(torch.randn(4, 10, requires_grad=True), torch.randn(4, 10), torch.arange(4))
        >>> sorted(out)
        ['ce', 'loss', 'soft']
    """

    def __init__(self, temperature: float = 1.0, alpha: float = 0.5, teacher_classes=None):
        super().__init__(teacher_classes)
        self.temperature = check_positive(temperature, "temperature")
        self.alpha = check_fraction(alpha, "alpha")

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        student_logits, teacher_logits = self.logits(student_logits, teacher_logits, targets)
        soft = soft_target_cross_entropy(student_logits, teacher_logits, self.temperature)
        if targets is None:
            return {"loss": soft, "soft": soft}
        ce = cross_entropy(student_logits, targets)
        return {"loss": self.alpha * soft + (1.0 - self.alpha) * ce, "soft": soft, "ce": ce}

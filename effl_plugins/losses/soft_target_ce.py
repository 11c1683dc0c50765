"""Soft-target cross-entropy: the teacher's softened distribution as a soft target (timm's
SoftTargetCrossEntropy), the cross-entropy form of DeiT's soft distillation (Touvron et al. 2021,
"Training data-efficient image transformers & distillation through attention").

``soft = T^2 * mean_b( -sum_k softmax(t / T)_k * log_softmax(s / T)_k )`` (batchmean): ``kd`` plus
``T^2`` times the teacher's mean entropy, a constant (same gradient; the value does not reach 0).
DeiT's own soft term (facebookresearch/deit ``losses.py``) is a KL averaged over ``B * K``: ``kd / K``.
With ``targets``:
``loss = alpha * soft + (1 - alpha) * CE(s, targets)``, DeiT's weighting and defaults ``alpha=0.5, T=1``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DistillationLoss, as_float, check_fraction, check_positive

__all__ = ["SoftTargetCELoss", "soft_target_cross_entropy"]


def soft_target_cross_entropy(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
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

    masked_teacher = True  # p_t = 0 times a finite log p_s

    def __init__(self, temperature: float = 1.0, alpha: float = 0.5, teacher_classes=None):
        super().__init__(teacher_classes)
        self.temperature = check_positive(temperature, "temperature")
        self.alpha = check_fraction(alpha, "alpha")

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        student_logits, teacher_logits = self.logits(student_logits, teacher_logits, targets)
        soft = soft_target_cross_entropy(student_logits, teacher_logits, self.temperature)
        loss = soft if targets is None else self.alpha * soft
        return self.with_ce({"loss": loss, "soft": soft}, student_logits, targets, 1.0 - self.alpha)

"""Cosine logit matching: ``1 - cos(student_logits, teacher_logits)``, averaged over the batch."""

from __future__ import annotations

import torch.nn.functional as F

from effl_plugins.losses import DistillationLoss
from effl_plugins.losses.base import as_float, check_non_negative, cross_entropy


class CosineLogitLoss(DistillationLoss):
    """Match the direction of the teacher's logits; with targets, add ``ce_weight * CE``.

    Args:
        ce_weight: weight of the cross-entropy on ``targets`` (when given).
        teacher_classes: optional student-to-teacher class mapping, for a teacher with other classes.

    Shape: student_logits ``[B, K]``, teacher_logits ``[B, K]`` (``[B, K_teacher]`` with
    ``teacher_classes``); returns ``{"loss", "cosine"}`` (+ ``"ce"``).
    """

    def __init__(self, ce_weight: float = 0.5, teacher_classes=None):
        super().__init__(teacher_classes)
        self.ce_weight = check_non_negative(ce_weight, "ce_weight")

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        # checks shapes and targets, detaches the teacher and maps its classes onto the student's
        student, teacher = self.logits(student_logits, teacher_logits, targets)
        cosine = 1 - F.cosine_similarity(as_float(student), as_float(teacher), dim=-1, eps=1e-6).mean()
        if targets is None:
            return {"loss": cosine, "cosine": cosine}
        ce = cross_entropy(student, targets)  # class ids [B] or soft targets [B, K]
        return {"loss": cosine + self.ce_weight * ce, "cosine": cosine, "ce": ce}

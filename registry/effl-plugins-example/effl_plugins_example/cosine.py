"""Cosine logit matching: ``1 - cos(student_logits, teacher_logits)``, averaged over the batch."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class CosineLogitLoss(nn.Module):
    """Match the direction of the teacher's logits; with targets, add ``ce_weight * CE``.

    Shape: student_logits, teacher_logits ``[B, K]``; returns ``{"loss", "cosine"}`` (+ ``"ce"``).
    """

    def __init__(self, ce_weight: float = 0.5):
        super().__init__()
        if ce_weight < 0:
            raise ValueError(f"ce_weight must be >= 0, got {ce_weight!r}")
        self.ce_weight = float(ce_weight)

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        if teacher_logits is None:
            raise ValueError("teacher_logits is required by example_cosine, got None")
        cosine = 1 - F.cosine_similarity(student_logits.float(), teacher_logits.detach().float(), dim=-1, eps=1e-6).mean()
        if targets is None:
            return {"loss": cosine, "cosine": cosine}
        ce = F.cross_entropy(student_logits.float(), targets)
        return {"loss": cosine + self.ce_weight * ce, "cosine": cosine, "ce": ce}

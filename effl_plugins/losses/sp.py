"""Similarity-preserving knowledge distillation (Tung & Mori ICCV 2019, "Similarity-Preserving
Knowledge Distillation").

A feature map ``[B, C, H, W]`` flattened to ``Q [B, C*H*W]`` gives the batch similarity
``G = normalize_rows(Q Q^T)`` ``[B, B]`` (each row l2-normalized). Per feature pair,
``sp = ||G_s - G_t||_F^2 / B^2`` (the paper's eq. 4; student and teacher shapes may differ, only
``B`` must match). ``loss = sp_weight * sum_pairs sp + ce_weight * CE(s, y) + kd_weight * KD_T(s, t)``.

``sp_weight = 3000`` is the paper's gamma for CIFAR-10, also RepDistiller's ``-b 3000`` and
mdistiller's ``SP.FEAT_WEIGHT`` (their CIFAR-100 runs use the last map before pooling, as
``student_features=`` is here). Rows of a zero map stay zero (``F.normalize``'s eps 1e-12). No parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import FeatureDistillationLoss, as_float, check_non_negative

__all__ = ["SPLoss", "similarity_preserving"]


def _similarity(features: torch.Tensor) -> torch.Tensor:
    flat = as_float(features).flatten(1)
    return F.normalize(flat @ flat.T, p=2, dim=1)


def similarity_preserving(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``||G_s - G_t||_F^2 / B^2`` for ``[B, ...]`` student and teacher features."""
    with torch.no_grad():
        target = _similarity(teacher)
    similarity = _similarity(student)
    return (similarity - target.to(similarity.dtype)).square().sum() / len(student) ** 2


class SPLoss(FeatureDistillationLoss):
    """Similarity-preserving KD over one or more feature pairs, plus the optional logit part.

    Args:
        sp_weight: weight >= 0 of the similarity term (3000). ce_weight, kd_weight, temperature: the logit part.
        teacher_classes: for the KD term with heads of different sizes.

    Shape:
        student_features / teacher_features: ``[B, ...]`` each (any shape after the batch dimension).
        Returns ``{"loss"}`` with ``"sp"`` (features given), ``"ce"`` (targets), ``"kd"`` (kd_weight > 0).

    Example:
        >>> sp = SPLoss()
        >>> out = sp(torch.randn(4, 10), None, torch.arange(4),
        ...          student_features=torch.randn(4, 8, 2, 2), teacher_features=torch.randn(4, 16, 4, 4))
        >>> sorted(out)
        ['ce', 'loss', 'sp']
    """

    term, term_weight = "sp", "sp_weight"

    def __init__(
        self,
        sp_weight: float = 3000.0,
        ce_weight: float = 1.0,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
        teacher_classes=None,
    ):
        super().__init__(ce_weight, kd_weight, temperature, teacher_classes)
        self.sp_weight = check_non_negative(sp_weight, "sp_weight")

    def pair_loss(self, i: int, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.ndim < 2 or teacher.ndim < 2 or student.shape[0] != teacher.shape[0]:
            raise ValueError(
                f"feature pair {i}: sp needs features [B, ...] with the same B, got student "
                f"{list(student.shape)} and teacher {list(teacher.shape)}"
            )
        with torch.autocast(student.device.type, enabled=False):
            return similarity_preserving(student, teacher)

"""Knowledge review (Chen, Liu, Zhao & Jia CVPR 2021, "Distilling Knowledge via Knowledge Review").

A student level learns from the teacher's level *and the deeper ones*: student maps are fused top-down
by attention-based fusion (ABF), each fused map matched to the teacher's by the hierarchical context loss.

- ABF (``attention_fusion.py``), deepest level first, to the teacher's size and width;
- HCL per level: ``(mse(y, f_t) + sum_{l in 4, 2, 1; l < H} 2^-n * mse(pool_l(y), pool_l(f_t))) /
  (1 + sum 2^-n)``, ``n`` counting the pooled levels used (weights 1/2, 1/4, 1/8); summed over levels.

``loss = review_weight * sum_levels HCL + ce_weight * CE + kd_weight * KD_T``; ``review_weight = 1``
(the authors' ``--kd-loss-weight``) and ``mid_channels = min(512, deepest student width)`` (mdistiller).
Unlike the authors' code, the weight has no 20-epoch warm-up ramp (scale ``review_weight`` for that)
and the pooled feature is not reviewed as an extra 1x1 level. Features and ``student_channels`` /
``teacher_channels`` are lists of ``feature_levels`` entries, shallow to deep.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import integer
from .attention_fusion import AttentionFusion
from .base import FeatureDistillationLoss, as_float, check_non_negative, feature_pairs

__all__ = ["ReviewKDLoss", "hierarchical_context_loss"]


def hierarchical_context_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """HCL of one level ``[B, C, H, W]``: MSE plus pooled MSEs at 4x4, 2x2, 1x1 (those below ``H``)."""
    loss, weight, total = F.mse_loss(student, teacher), 1.0, 1.0
    for size in (4, 2, 1):
        if size >= student.shape[2]:
            continue
        weight /= 2
        loss = loss + weight * F.mse_loss(F.adaptive_avg_pool2d(student, size), F.adaptive_avg_pool2d(teacher, size))
        total += weight
    return loss / total


class ReviewKDLoss(FeatureDistillationLoss):
    """Knowledge review: ABF top-down fusion of student levels, HCL against the teacher's levels.

    Args:
        feature_levels: number of levels ``N`` >= 1 (4). review_weight: weight >= 0 of the HCL sum (1).
        mid_channels: ABF width (default ``min(512, deepest student width)``).
        student_channels, teacher_channels: widths per level, shallow to deep (else built on the first call).
        ce_weight, kd_weight, temperature, teacher_classes: the logit part.

    Shape:
        student_features / teacher_features: lists of ``N`` maps ``[B, C_i, H_i, W_i]``, shallow to deep.
        Returns ``{"loss"}`` with ``"review"`` (features given), ``"ce"`` (targets), ``"kd"`` (kd_weight > 0).

    Example:
        >>> review = ReviewKDLoss(feature_levels=2)
        >>> f_s = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
        >>> f_t = [torch.randn(2, 16, 8, 8), torch.randn(2, 32, 4, 4)]
        >>> sorted(review(torch.randn(2, 10), None, torch.arange(2), student_features=f_s, teacher_features=f_t))
        ['ce', 'loss', 'review']
    """

    term, term_weight = "review", "review_weight"

    def __init__(
        self,
        feature_levels: int = 4,
        review_weight: float = 1.0,
        mid_channels: int | None = None,
        student_channels=None,
        teacher_channels=None,
        ce_weight: float = 1.0,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
        teacher_classes=None,
    ):
        super().__init__(ce_weight, kd_weight, temperature, teacher_classes)
        self.feature_levels = integer(feature_levels, "feature_levels", low=1)
        self.mid_channels = integer(mid_channels, "mid_channels", low=1, optional=True)
        self.review_weight = check_non_negative(review_weight, "review_weight")
        self.fusions = nn.ModuleList()
        if (student_channels is None) != (teacher_channels is None):
            raise ValueError("student_channels and teacher_channels must be given together (or neither)")
        if student_channels is not None:
            widths = [list(student_channels), list(teacher_channels)]
            if any(len(w) != feature_levels or not all(isinstance(c, int) and c > 0 for c in w) for w in widths):
                raise ValueError(
                    f"student_channels and teacher_channels must be {feature_levels} positive ints each "
                    f"(one per level), got {student_channels!r} and {teacher_channels!r}"
                )
            self._build(*widths)

    def _build(self, student_channels: list[int], teacher_channels: list[int], device=None) -> None:
        mid = self.mid_channels or min(512, student_channels[-1])
        last = len(student_channels) - 1
        self.fusions.extend(
            AttentionFusion(c_s, mid, c_t, fuse=i < last).to(device)
            for i, (c_s, c_t) in enumerate(zip(student_channels, teacher_channels))
        )

    def _review(self, pairs) -> torch.Tensor:
        if len(pairs) != self.feature_levels or any(s.ndim != 4 or t.ndim != 4 or len(s) != len(t) for s, t in pairs):
            shapes = [(list(s.shape), list(t.shape)) for s, t in pairs]
            raise ValueError(
                f"review_kd needs {self.feature_levels} pairs of maps [B, C, H, W] (feature_levels), "
                f"shallow to deep, got {shapes}"
            )
        students, teachers = [as_float(s) for s, _ in pairs], [as_float(t) for _, t in pairs]
        if not len(self.fusions):
            self._build([s.shape[1] for s in students], [t.shape[1] for t in teachers], students[0].device)
        for i, (s, t, fusion) in enumerate(zip(students, teachers, self.fusions)):
            expected = (fusion.reduce[0].in_channels, fusion.output[0].out_channels)
            if (s.shape[1], t.shape[1]) != expected:
                raise ValueError(
                    f"level {i}: widths student {s.shape[1]}, teacher {t.shape[1]}, but the fusion maps "
                    f"{expected[0]} -> {expected[1]} (check student_channels / teacher_channels)"
                )
        residual, total = None, students[0].new_zeros(())
        for s, t, fusion in reversed(list(zip(students, teachers, self.fusions))):
            fused, residual = fusion(s, residual, t.shape[-2:])
            total = total + hierarchical_context_loss(fused, t.to(fused.dtype))
        return total

    def feature_term(self, student_features, teacher_features, logits, **features):
        pairs = feature_pairs(student_features, teacher_features)
        if not pairs:
            return None, {}
        with torch.autocast(pairs[0][0].device.type, enabled=False):
            return self._review(pairs), {}

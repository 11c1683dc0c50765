"""Feature maps to per-sample embeddings, for the relational and contrastive losses (rkd, pkt, crd).

Those papers work on the penultimate representation: the globally average-pooled last feature map
``[B, C]`` (RepDistiller's ``feat[-1]``). Maps ``[B, C, H, W]`` are average-pooled over ``H x W``,
tokens ``[B, N, D]`` averaged over ``N``, embeddings ``[B, D]`` kept as they are.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import as_float, feature_pairs

__all__ = ["pooled_embedding", "embedding_pairs", "embedding_or_logit_pairs"]


def pooled_embedding(features: torch.Tensor, name: str = "features") -> torch.Tensor:
    """``[B, C, H, W]`` / ``[B, N, D]`` / ``[B, D]`` -> ``[B, C]`` or ``[B, D]`` in float32 (or wider)."""
    if features.ndim == 4:
        return as_float(features).mean((2, 3))
    if features.ndim == 3:
        return as_float(features).mean(1)
    if features.ndim == 2:
        return as_float(features)
    raise ValueError(f"{name} must be [B, C, H, W], [B, N, D] or [B, D], got {list(features.shape)}")


def embedding_pairs(student_features: Any, teacher_features: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pooled ``(student [B, Ds], teacher [B, Dt])`` per feature pair (teacher detached); ``[]`` without features."""
    pairs = []
    for i, (s, t) in enumerate(feature_pairs(student_features, teacher_features)):
        s, t = pooled_embedding(s, f"student_features[{i}]"), pooled_embedding(t, f"teacher_features[{i}]")
        if s.shape[0] != t.shape[0]:
            raise ValueError(f"feature pair {i}: student batch {s.shape[0]} differs from teacher batch {t.shape[0]}")
        dtype = torch.promote_types(s.dtype, t.dtype)
        pairs.append((s.to(dtype), t.to(dtype)))
    return pairs


def embedding_or_logit_pairs(loss, student_features, teacher_features, logits: tuple) -> list:
    """:func:`embedding_pairs`; without features, the logits ``(student, teacher)`` as the one pair (the teacher's
    mapped through ``loss.teacher_classes``), or no pair without teacher logits. Logits as embeddings refuse
    ``-inf`` teacher entries: a masked class has no distance (with features, ``-inf`` reaches only the KD
    part, where it is a masked class)."""
    pairs = embedding_pairs(student_features, teacher_features)
    if pairs:
        return pairs
    student, teacher = loss.logits(*logits, teacher_required=False, masked_teacher=False)
    if teacher is None:
        return []
    student = as_float(student)
    return [(student, as_float(teacher).to(student.dtype))]

"""Contrastive representation distillation (Tian, Krishnan & Isola ICLR 2020, "Contrastive
Representation Distillation").

Student and teacher embeddings (the pooled penultimate features, ``embedding.py``) pass through
trainable heads, ``v = normalize(W f + b)`` ``[B, feat_dim]``. Each side is contrasted with the other
side's memory (``crd_memory.py``, where ours differs from the authors' code): for the student, the
positive is the teacher's embedding of the same sample and ``K`` negatives are teacher embeddings of
other samples, symmetrically for the teacher head; the NCE loss scores ``P = exp(<v, w> / nce_t) / Z``
against noise ``K / N``. ``loss = crd_weight * (nce_student + nce_teacher) + ce_weight * CE + kd_weight
* KD_T``; the defaults are RepDistiller's. The heads are built from ``student_channels`` /
``teacher_channels`` when given, else lazily (``nn.LazyLinear``) on the first call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import fraction, integer
from .base import FeatureDistillationLoss, check_non_negative, check_positive
from .crd_memory import ContrastMemory
from .embedding import embedding_pairs

__all__ = ["CRDLoss"]


def _head(in_features: int | None, feat_dim: int) -> nn.Module:
    return nn.LazyLinear(feat_dim) if in_features is None else nn.Linear(in_features, feat_dim)


class CRDLoss(FeatureDistillationLoss):
    """Contrastive representation distillation with a per-sample memory or a queue of embeddings.

    Args:
        feat_dim: embedding width (128). nce_k: negatives per sample, also the queue length (16384).
        nce_t: temperature > 0 (0.07). momentum: memory momentum in [0, 1) (0.5).
        num_data: dataset size for the per-sample memory (then pass ``indices=``); None: the queue.
        crd_weight: weight >= 0 of the contrastive term (0.8). ce_weight, kd_weight, temperature: logit part.
        student_channels, teacher_channels: input widths of the heads (else built on the first call).

    Shape:
        student_features / teacher_features: ``[B, C, H, W]``, ``[B, N, D]`` or ``[B, D]``; indices ``[B]``.
        Returns ``{"loss"}`` with ``"crd"``, ``"nce_student"``, ``"nce_teacher"`` (features), ``"ce"``, ``"kd"``.

    Example:
        >>> crd = CRDLoss(nce_k=32, student_channels=8, teacher_channels=16)
        >>> out = crd(torch.randn(4, 10), None, torch.arange(4),
        ...           student_features=torch.randn(4, 8, 2, 2), teacher_features=torch.randn(4, 16, 2, 2))
        >>> sorted(out)
        ['ce', 'crd', 'loss', 'nce_student', 'nce_teacher']
    """

    term, term_weight = "crd", "crd_weight"

    def __init__(
        self,
        feat_dim: int = 128,
        nce_k: int = 16384,
        nce_t: float = 0.07,
        momentum: float = 0.5,
        num_data: int | None = None,
        crd_weight: float = 0.8,
        ce_weight: float = 1.0,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
        student_channels: int | None = None,
        teacher_channels: int | None = None,
        teacher_classes=None,
    ):
        super().__init__(ce_weight, kd_weight, temperature, teacher_classes)
        self.feat_dim = integer(feat_dim, "feat_dim", low=1)
        self.nce_k = integer(nce_k, "nce_k", low=1)
        self.num_data = integer(num_data, "num_data", low=1, optional=True)
        for name, value in (("student_channels", student_channels), ("teacher_channels", teacher_channels)):
            integer(value, name, low=1, optional=True)
        self.momentum = fraction(momentum, "momentum", below_one=True)
        self.nce_t = check_positive(nce_t, "nce_t")
        self.crd_weight = check_non_negative(crd_weight, "crd_weight")
        self.embed_student, self.embed_teacher = _head(student_channels, feat_dim), _head(teacher_channels, feat_dim)
        self.memory = ContrastMemory(feat_dim, nce_k, num_data, self.momentum)

    def feature_term(self, student_features, teacher_features, logits, indices=None, **features):
        pairs = embedding_pairs(student_features, teacher_features)
        if len(pairs) > 1:
            raise ValueError(f"crd takes one feature pair (the penultimate features), got {len(pairs)}")
        if not pairs:
            return None, {}
        student, teacher = pairs[0]
        indices = self.memory.check_indices(indices, len(student))
        with torch.autocast(student.device.type, enabled=False):
            v_s = F.normalize(self.embed_student(student.float()), dim=1)
            v_t = F.normalize(self.embed_teacher(teacher.float()), dim=1)
            nce_s, nce_t = self.memory.losses(v_s, v_t, self.nce_t, indices)
        return nce_s + nce_t, {"nce_student": nce_s, "nce_teacher": nce_t}

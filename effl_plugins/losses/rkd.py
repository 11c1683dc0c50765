"""Relational knowledge distillation (Park, Kim, Lu & Cho CVPR 2019, "Relational Knowledge Distillation").

The student mimics the relations between samples, not the samples: per batch of embeddings
``[B, D]`` (student and teacher widths may differ),

- distance-wise: ``psi_D(i, j) = ||e_i - e_j|| / mu`` with ``mu`` the mean distance over the pairs
  ``i != j``; ``distance = mean_{i,j} huber(psi_D^s - psi_D^t)`` over all ``B x B`` entries;
- angle-wise: ``psi_A(i, j, k) = <(e_i - e_j) / ||.||, (e_k - e_j) / ||.||>``;
  ``angle = mean_{i,j,k} huber(psi_A^s - psi_A^t)`` over all ``B^3`` entries,

with ``huber`` the smooth L1 of threshold 1. ``loss = distance_weight * distance + angle_weight *
angle + ce_weight * CE(s, y) + kd_weight * KD_T(s, t)``. Weights 25 and 50 follow RepDistiller's
and mdistiller's CIFAR-100 set-up (the authors' metric-learning code uses 1 and 2); like them,
distances are ``sqrt(max(|e_i|^2 + |e_j|^2 - 2 <e_i, e_j>, 1e-12))`` with a zero diagonal, the
means include the zero diagonal and degenerate triples, and the angle term holds the ``B x B x D``
differences (memory grows as ``B^2 D``; exact where a Gram-matrix form would cancel).

The embeddings are the pooled features, else the logits (``embedding.py``); a list of pairs sums its
terms. No parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import FeatureDistillationLoss, check_non_negative
from .embedding import embedding_or_logit_pairs

__all__ = ["RKDLoss", "rkd_angle", "rkd_distance"]


def _distances(embeddings: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances ``[B, B]`` with a zero diagonal (a gradient of zero at coincident points)."""
    squared = embeddings.square().sum(1)
    distances = (squared[:, None] + squared[None, :] - 2 * embeddings @ embeddings.T).clamp(min=eps).sqrt()
    return distances * (1 - torch.eye(len(embeddings), dtype=distances.dtype, device=distances.device))


def _normalized_distances(embeddings: torch.Tensor) -> torch.Tensor:
    distances = _distances(embeddings)
    pairs = max(len(embeddings) * (len(embeddings) - 1), 1)
    return distances / (distances.sum() / pairs).clamp(min=1e-12)


def rkd_distance(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Huber loss between the mean-normalized distance matrices of ``[B, Ds]`` and ``[B, Dt]``."""
    with torch.no_grad():
        target = _normalized_distances(teacher)
    return F.smooth_l1_loss(_normalized_distances(student), target)


def _angles(embeddings: torch.Tensor) -> torch.Tensor:
    """``[B, B, B]``: cosine of the angle at ``e_j`` between ``e_i`` and ``e_k`` (0 where points coincide)."""
    directions = F.normalize(embeddings[None, :, :] - embeddings[:, None, :], p=2, dim=2)
    return directions @ directions.transpose(1, 2)


def rkd_angle(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Huber loss between the angle tensors of ``[B, Ds]`` and ``[B, Dt]``."""
    with torch.no_grad():
        target = _angles(teacher)
    return F.smooth_l1_loss(_angles(student), target)


class RKDLoss(FeatureDistillationLoss):
    """Relational KD: distance-wise and angle-wise Huber terms, plus the optional logit part.

    Args:
        distance_weight, angle_weight: weights >= 0 of the two relational terms (25 and 50).
        ce_weight, kd_weight, temperature: the logit part. teacher_classes: for logits of other heads.

    Shape:
        student_features / teacher_features: ``[B, C, H, W]``, ``[B, N, D]`` or ``[B, D]`` each (widths may
        differ); without them, student_logits ``[B, K]`` and teacher_logits ``[B, K]`` are the embeddings.
        Returns ``{"loss", "rkd", "distance", "angle"}`` (``rkd`` the weighted sum of the two terms) plus
        ``"ce"`` (targets) and ``"kd"`` (kd_weight > 0).

    Example:
        >>> rkd = RKDLoss()
        >>> out = rkd(torch.randn(4, 10), None, torch.arange(4),
        ...           student_features=torch.randn(4, 8, 2, 2), teacher_features=torch.randn(4, 16, 2, 2))
        >>> sorted(out)
        ['angle', 'ce', 'distance', 'loss', 'rkd']
    """

    conformance_kwargs = {}  # without features, the logits are the embeddings
    term, term_weight = "rkd", None

    def __init__(
        self,
        distance_weight: float = 25.0,
        angle_weight: float = 50.0,
        ce_weight: float = 1.0,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
        teacher_classes=None,
    ):
        super().__init__(ce_weight, kd_weight, temperature, teacher_classes)
        self.distance_weight = check_non_negative(distance_weight, "distance_weight")
        self.angle_weight = check_non_negative(angle_weight, "angle_weight")

    def feature_term(self, student_features, teacher_features, logits, **features):
        pairs = embedding_or_logit_pairs(self, student_features, teacher_features, logits)
        if not pairs:
            return None, {}
        with torch.autocast(pairs[0][0].device.type, enabled=False):
            distance = torch.stack([rkd_distance(s, t) for s, t in pairs]).sum()
            angle = torch.stack([rkd_angle(s, t) for s, t in pairs]).sum()
        return self.distance_weight * distance + self.angle_weight * angle, {"distance": distance, "angle": angle}

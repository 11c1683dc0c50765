"""Probabilistic knowledge transfer (Passalis & Tefas ECCV 2018, "Learning Deep Representations with
Probabilistic Knowledge Transfer").

Each batch of embeddings ``[B, D]`` becomes conditional probabilities from the cosine-similarity
kernel: ``K_ij = (cos(e_i, e_j) + 1) / 2`` and ``p_{i|j} = K_ij / sum_j K_ij`` (each row sums to 1,
the diagonal included, as in the authors' code). ``pkt = mean_{i,j} p^t_ij log((p^t_ij + eps) /
(p^s_ij + eps))`` with ``eps = 1e-7``: the authors' ``torch.mean`` over the ``B x B`` matrix (the
paper's equation sums over ``i`` and ``j``, ``B^2`` times larger; the weight below absorbs it).
Embeddings are scaled by ``1 / (||e|| + eps)`` (a zero embedding stays zero).

``loss = pkt_weight * pkt + ce_weight * CE(s, y) + kd_weight * KD_T(s, t)``; ``pkt_weight = 30000``
as in RepDistiller and CTKD's CIFAR-100 scripts (``-b 30000``). The embeddings are the pooled
features (widths may differ), else the logits (``embedding.py``). No parameters.
"""

from __future__ import annotations

import torch

from .base import FeatureDistillationLoss, check_non_negative
from .embedding import embedding_or_logit_pairs

__all__ = ["PKTLoss", "pkt_divergence"]


def _conditional_probabilities(embeddings: torch.Tensor, eps: float) -> torch.Tensor:
    """``[B, D]`` -> ``[B, B]`` rows of ``(cos + 1) / 2`` normalized to sum to 1."""
    unit = embeddings / (embeddings.norm(dim=1, keepdim=True) + eps)
    kernel = (unit @ unit.T + 1.0) / 2.0
    return kernel / kernel.sum(1, keepdim=True)


def pkt_divergence(student: torch.Tensor, teacher: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """``mean_{i,j} p^t log((p^t + eps) / (p^s + eps))`` for student ``[B, Ds]`` and teacher ``[B, Dt]``."""
    with torch.no_grad():
        target = _conditional_probabilities(teacher, eps)
    probabilities = _conditional_probabilities(student, eps)
    return (target * ((target + eps).log() - (probabilities + eps).log())).mean()


class PKTLoss(FeatureDistillationLoss):
    """Probabilistic knowledge transfer: KL between cosine-kernel conditional probabilities.

    Args:
        pkt_weight: weight >= 0 of the PKT term (30000). ce_weight, kd_weight, temperature: the logit part.
        teacher_classes: for logits of heads of different sizes.

    Shape:
        student_features / teacher_features: ``[B, C, H, W]``, ``[B, N, D]`` or ``[B, D]`` each; without
        them, the logits ``[B, K]`` are the embeddings.
        Returns ``{"loss", "pkt"}`` plus ``"ce"`` (targets) and ``"kd"`` (kd_weight > 0).

    Example:
        >>> pkt = PKTLoss()
        >>> out = pkt(torch.randn(4, 10), torch.randn(4, 10), torch.arange(4))
        >>> sorted(out)
        ['ce', 'loss', 'pkt']
    """

    conformance_kwargs = {}  # without features, the logits are the embeddings
    term, term_weight = "pkt", "pkt_weight"

    def __init__(
        self,
        pkt_weight: float = 30000.0,
        ce_weight: float = 1.0,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
        teacher_classes=None,
    ):
        super().__init__(ce_weight, kd_weight, temperature, teacher_classes)
        self.pkt_weight = check_non_negative(pkt_weight, "pkt_weight")

    def feature_term(self, student_features, teacher_features, logits, **features):
        pairs = embedding_or_logit_pairs(self, student_features, teacher_features, logits)
        if not pairs:
            return None, {}
        with torch.autocast(pairs[0][0].device.type, enabled=False):
            return torch.stack([pkt_divergence(s, t) for s, t in pairs]).sum(), {}

"""DIST (Huang et al. NeurIPS 2022, "Knowledge Distillation from A Stronger Teacher").

Matches relations instead of exact probabilities: with ``Y = softmax(z / tau)`` for student and
teacher, ``inter = 1 - mean_b pearson(Y_s[b, :], Y_t[b, :])`` (each sample's class ranking) and
``intra = 1 - mean_k pearson(Y_s[:, k], Y_t[:, k])`` (each class across the batch), both scaled by
``tau^2``. ``pearson(a, b) = <a - mean a, b - mean b> / (||a - mean a|| * ||b - mean b|| + eps)``
with ``eps = 1e-8`` as in the authors' code: constant rows or columns give 0, not NaN.
``loss = ce_weight * CE(s, y) + beta * inter + gamma * intra``; the paper's defaults
``beta = gamma = 1, tau = 1`` and a CE weight of 1 (used only when targets are given).
"""

from __future__ import annotations

import torch

from .base import DistillationLoss, as_float, check_non_negative, check_positive

__all__ = ["DISTLoss", "pearson_correlation"]


def pearson_correlation(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Row-wise Pearson correlation of ``[N, M]`` tensors (``[N]``), 0 for constant rows."""
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    return (a * b).sum(-1) / (torch.linalg.vector_norm(a, dim=-1) * torch.linalg.vector_norm(b, dim=-1) + eps)


class DISTLoss(DistillationLoss):
    """DIST: inter-class and intra-class Pearson relations between softened predictions.

    Args:
        beta: inter-class weight >= 0. gamma: intra-class weight >= 0. tau: temperature > 0.
        ce_weight: weight of CE(s, targets) >= 0 when targets are given.
        teacher_classes: optional teacher class index per student class.

    Shape:
        student_logits ``[B, K]``, teacher_logits ``[B, K]`` (``[B, K_teacher]`` with teacher_classes),
        targets ``[B]`` int or ``[B, K]`` probabilities. Returns ``{"loss", "inter", "intra"}`` plus ``"ce"``.

    Example:
        >>> dist = DISTLoss()
        >>> out = dist(torch.randn(4, 10, requires_grad=True), torch.randn(4, 10))
        >>> sorted(out)
        ['inter', 'intra', 'loss']
    """

    masked_teacher = True  # a masked class is a 0 in the teacher's softmax, which the correlations take as it is

    def __init__(
        self, beta: float = 1.0, gamma: float = 1.0, tau: float = 1.0, ce_weight: float = 1.0, teacher_classes=None
    ):
        super().__init__(teacher_classes)
        self.beta = check_non_negative(beta, "beta")
        self.gamma = check_non_negative(gamma, "gamma")
        self.tau = check_positive(tau, "tau")
        self.ce_weight = check_non_negative(ce_weight, "ce_weight")

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        student_logits, teacher_logits = self.logits(student_logits, teacher_logits, targets)
        y_s = torch.softmax(as_float(student_logits) / self.tau, -1)
        y_t = torch.softmax(as_float(teacher_logits).to(y_s.dtype) / self.tau, -1)
        inter = self.tau**2 * (1 - pearson_correlation(y_s, y_t).mean())
        intra = self.tau**2 * (1 - pearson_correlation(y_s.T, y_t.T).mean())
        out = {"loss": self.beta * inter + self.gamma * intra, "inter": inter, "intra": intra}
        return self.with_ce(out, student_logits, targets)

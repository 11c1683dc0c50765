"""Logit matching with the mean squared error (Kim et al. 2021, "Comparing Kullback-Leibler
Divergence and Mean Squared Error Loss in Knowledge Distillation", IJCAI).

``mse = mean_{b,k} (s - t)^2``: the mean over every element, as ``F.mse_loss`` (divide by ``K`` less
for the per-sample squared norm ``||s - t||^2`` of the paper's formula). No temperature: the paper
shows KD tends to this as ``T`` grows. With ``targets``:
``loss = alpha * mse + (1 - alpha) * CE(s, targets)``; ``alpha=1.0`` by default, the paper's best
setting (pure logit matching), with the CE still reported.
"""

from __future__ import annotations

from .base import DistillationLoss, as_float, check_fraction

__all__ = ["MSELogitsLoss"]


class MSELogitsLoss(DistillationLoss):
    """Mean squared error between student and teacher logits.

    Args:
        alpha: weight of the MSE term when targets are given, in [0, 1].
        teacher_classes: optional teacher class index per student class.

    Shape:
        student_logits ``[B, K]``, teacher_logits ``[B, K]`` (``[B, K_teacher]`` with teacher_classes),
        targets ``[B]`` int or ``[B, K]`` probabilities. Returns ``{"loss", "mse"}`` plus ``"ce"``.

    Example:
        >>> loss = MSELogitsLoss()
        >>> out = loss(torch.randn(4, 10, requires_grad=True), torch.randn(4, 10))
        >>> sorted(out)
        ['loss', 'mse']
    """

    def __init__(self, alpha: float = 1.0, teacher_classes=None):
        super().__init__(teacher_classes)
        self.alpha = check_fraction(alpha, "alpha")

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        student_logits, teacher_logits = self.logits(student_logits, teacher_logits, targets)
        student = as_float(student_logits)
        mse = (student - teacher_logits.to(student.dtype)).square().mean()
        loss = mse if targets is None else self.alpha * mse
        return self.with_ce({"loss": loss, "mse": mse}, student_logits, targets, 1.0 - self.alpha)

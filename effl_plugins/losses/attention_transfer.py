"""Attention transfer (Zagoruyko & Komodakis ICLR 2017, "Paying More Attention to Attention:
Improving the Performance of Convolutional Neural Networks via Attention Transfer").

A feature map ``A`` ``[B, C, H, W]`` gives the spatial attention map ``Q = mean_c |A_c|^p``
(``p = 2``; the paper's sum differs by ``C``, which the normalization cancels), flattened and
l2-normalized per sample. Per feature pair, ``at = mean_{b,hw} (Q_s / ||Q_s|| - Q_t / ||Q_t||)^2``
(the authors' code: squared differences averaged over batch and positions); student maps of another
spatial size are adaptive-average-pooled to the teacher's ``H x W`` (channel counts may differ).
``loss = beta * sum_pairs at + ce_weight * CE(s, y) + kd_weight * KD_T(s, t)`` with ``beta = 1000`` and
``ce_weight = 1``; ``kd_weight > 0`` gives the paper's AT+KD. The weighting is the authors' code's
(szagoruyko/attention-transfer: ``opt.beta * sum(loss_groups)``, ``--beta 1e+3``; mdistiller's too),
not the paper's formula's ``beta / 2``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import FeatureDistillationLoss, as_float, check_non_negative, check_positive

__all__ = ["AttentionTransferLoss", "attention_map"]


def attention_map(features: torch.Tensor, p: float = 2.0, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``[B, C, H, W]`` -> l2-normalized ``mean_c |A|^p``, pooled to ``size`` first, ``[B, H*W]``."""
    attention = as_float(features).abs().pow(p).mean(1, keepdim=True)
    if size is not None and attention.shape[-2:] != tuple(size):
        attention = F.adaptive_avg_pool2d(attention, size)
    return F.normalize(attention.flatten(1), dim=1)


class AttentionTransferLoss(FeatureDistillationLoss):
    """Activation-based attention transfer over one or more feature-map pairs.

    Args:
        beta: weight of the summed attention terms >= 0 (the authors' code: ``beta * sum``). p: exponent > 0.
        ce_weight, kd_weight, temperature: the logit part. teacher_classes: for the KD term.

    Shape:
        student_features / teacher_features: ``[B, C, H, W]`` each (C may differ).
        Returns ``{"loss"}`` with ``"at"`` (features given), ``"ce"`` (targets), ``"kd"`` (kd_weight > 0).

    Example:
        >>> at = AttentionTransferLoss()
        >>> out = at(torch.randn(2, 10), None, torch.arange(2),
        ...          student_features=[torch.randn(2, 8, 4, 4)], teacher_features=[torch.randn(2, 32, 4, 4)])
        >>> sorted(out)
        ['at', 'ce', 'loss']
    """

    term, term_weight = "at", "beta"

    def __init__(
        self,
        beta: float = 1000.0,
        p: float = 2.0,
        ce_weight: float = 1.0,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
        teacher_classes=None,
    ):
        super().__init__(ce_weight, kd_weight, temperature, teacher_classes)
        self.beta = check_non_negative(beta, "beta")
        self.p = check_positive(p, "p")

    def pair_loss(self, i: int, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.ndim != 4 or teacher.ndim != 4 or student.shape[0] != teacher.shape[0]:
            raise ValueError(
                f"feature pair {i}: attention transfer needs maps [B, C, H, W] with the same B, got student "
                f"{list(student.shape)} and teacher {list(teacher.shape)} (reshape tokens to maps first)"
            )
        q_t = attention_map(teacher, self.p)
        q_s = attention_map(student, self.p, size=teacher.shape[-2:]).to(q_t.dtype)
        return (q_s - q_t).square().mean()

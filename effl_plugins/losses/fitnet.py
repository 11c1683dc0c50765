"""Feature hints (Romero et al. ICLR 2015, "FitNets: Hints for Thin Deep Nets").

A student's intermediate feature (the guided layer), passed through a learnable regressor, is
pulled toward the teacher's (the hint): ``hint = mean((r(f_s) - f_t)^2)`` over every element
(``F.mse_loss``; the paper's ``1/2 ||.||^2`` up to a constant), summed over feature pairs.
The regressor ``r`` is a learnable linear map over channels when widths differ (a 1x1 convolution
on maps ``[B, C, H, W]``, a linear layer on tokens ``[B, D]`` / ``[B, N, D]``), the identity when
they match. Student maps of another spatial size are adaptive-average-pooled to the teacher's ``H x W``.

``loss = hint_weight * hint + ce_weight * CE(s, y) + kd_weight * KD_T(s, t)``, defaults 1, 1, 0 (the
paper's second stage is KD training: set ``kd_weight``). ``student_channels`` / ``teacher_channels``:
an int or a list, one per pair.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import FeatureDistillationLoss, as_float, check_non_negative

__all__ = ["FitNetLoss"]


def _regress(regressor: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """A width-changing ``nn.Linear`` acts over channels: as a 1x1 convolution on ``[B, C, H, W]``."""
    if isinstance(regressor, nn.Identity) or features.ndim != 4:
        return regressor(features)
    return F.conv2d(features, regressor.weight[:, :, None, None], regressor.bias)


def _regressor(student_width: int, teacher_width: int) -> nn.Module:
    return nn.Identity() if student_width == teacher_width else nn.Linear(student_width, teacher_width)


class FitNetLoss(FeatureDistillationLoss):
    """FitNets hint loss with learnable regressors, plus the optional logit part.

    Args:
        hint_weight: weight of the hint term >= 0. ce_weight, kd_weight, temperature: the logit part.
        student_channels, teacher_channels: widths per feature pair (C of maps, D of tokens).
        teacher_classes: optional teacher class index per student class (for the KD term).

    Shape:
        student_features / teacher_features: ``[B, C, H, W]`` or ``[B, D]`` or ``[B, N, D]`` each.
        Returns ``{"loss"}`` with ``"hint"`` (features given), ``"ce"`` (targets), ``"kd"`` (kd_weight > 0).

    Example:
        >>> fit = FitNetLoss(student_channels=8, teacher_channels=16)
        >>> out = fit(torch.randn(2, 10), None, torch.arange(2),
        ...           student_features=torch.randn(2, 8, 4, 4), teacher_features=torch.randn(2, 16, 2, 2))
        >>> sorted(out)
        ['ce', 'hint', 'loss']
    """

    term, term_weight = "hint", "hint_weight"

    def __init__(
        self,
        hint_weight: float = 1.0,
        ce_weight: float = 1.0,
        kd_weight: float = 0.0,
        temperature: float = 4.0,
        student_channels=None,
        teacher_channels=None,
        teacher_classes=None,
    ):
        super().__init__(ce_weight, kd_weight, temperature, teacher_classes)
        self.hint_weight = check_non_negative(hint_weight, "hint_weight")
        self.regressors = nn.ModuleDict()
        if (student_channels is None) != (teacher_channels is None):
            raise ValueError("student_channels and teacher_channels must be given together (or neither)")
        if student_channels is not None:
            widths = [[w] if isinstance(w, int) else list(w) for w in (student_channels, teacher_channels)]
            if len(widths[0]) != len(widths[1]) or not all(isinstance(w, int) and w > 0 for w in widths[0] + widths[1]):
                raise ValueError(
                    f"student_channels and teacher_channels must be positive ints, one per pair, "
                    f"got {student_channels!r} and {teacher_channels!r}"
                )
            for i, (ws, wt) in enumerate(zip(*widths)):
                self.regressors[str(i)] = _regressor(ws, wt)

    def pair_loss(self, i: int, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        """``mean((r(pool(f_s)) - f_t)^2)`` for one feature pair, in float32 (or wider)."""
        if student.ndim != teacher.ndim or student.ndim not in (2, 3, 4) or student.shape[0] != teacher.shape[0]:
            raise ValueError(
                f"feature pair {i}: student {list(student.shape)} and teacher {list(teacher.shape)} must both be "
                "[B, C, H, W], [B, D] or [B, N, D] with the same B"
            )
        if student.ndim == 3 and student.shape[1] != teacher.shape[1]:
            raise ValueError(
                f"feature pair {i}: token counts differ, student {student.shape[1]}, teacher {teacher.shape[1]}"
            )
        student, teacher = as_float(student), as_float(teacher)
        if student.ndim == 4 and student.shape[-2:] != teacher.shape[-2:]:
            student = F.adaptive_avg_pool2d(student, teacher.shape[-2:])
        width_dim = 1 if student.ndim == 4 else -1
        width, target_width = student.shape[width_dim], teacher.shape[width_dim]
        if str(i) not in self.regressors:
            self.regressors[str(i)] = _regressor(width, target_width).to(student.device)
        regressor = self.regressors[str(i)]
        expected = (
            (target_width, target_width)
            if isinstance(regressor, nn.Identity)
            else (regressor.in_features, regressor.out_features)
        )
        if expected != (width, target_width):
            raise ValueError(
                f"feature pair {i}: widths student {width} -> teacher {target_width}, but the regressor maps "
                f"{expected[0]} -> {expected[1]} (check student_channels / teacher_channels)"
            )
        with torch.autocast(student.device.type, enabled=False):  # float32 even inside a mixed-precision step
            regressed = _regress(regressor, student)
            return F.mse_loss(regressed, teacher.to(regressed.dtype))

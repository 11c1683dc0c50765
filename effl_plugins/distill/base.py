"""What every distillation loss shares: the call convention and input checks.

Call: ``loss(student_logits, teacher_logits=None, targets=None, **features) -> dict[str, Tensor]``
with ``"loss"`` the total to backpropagate. Teacher inputs are detached: gradients reach the
student only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["DistillationLoss", "check_logits", "check_targets", "check_positive", "check_fraction"]


def check_positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_fraction(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def check_logits(student: Any, teacher: Any = None, *, teacher_required: bool = True) -> None:
    """Student ``[B, K]`` floating logits; teacher, when given or required, the same shape."""
    if not isinstance(student, torch.Tensor) or student.ndim != 2 or not student.dtype.is_floating_point:
        shape = tuple(student.shape) if isinstance(student, torch.Tensor) else type(student).__name__
        raise ValueError(f"student_logits must be a floating tensor [B, K], got {shape}")
    if teacher is None:
        if teacher_required:
            raise ValueError("teacher_logits is required by this loss, got None")
        return
    if not isinstance(teacher, torch.Tensor) or not teacher.dtype.is_floating_point:
        raise ValueError(f"teacher_logits must be a floating tensor [B, K], got {type(teacher).__name__}")
    if teacher.shape != student.shape:
        raise ValueError(
            f"teacher_logits shape {tuple(teacher.shape)} differs from student_logits shape {tuple(student.shape)}; "
            "heads with different class counts need an explicit teacher_classes mapping"
        )


def check_targets(targets: Any, student: torch.Tensor) -> None:
    """Hard class ids ``[B]`` (int) or soft targets ``[B, K]`` (float, rows summing to 1)."""
    if targets is None:
        return
    if not isinstance(targets, torch.Tensor):
        raise ValueError(f"targets must be a tensor of class ids [B] or probabilities [B, K], got {type(targets).__name__}")
    hard = targets.ndim == 1 and not targets.dtype.is_floating_point
    soft = targets.ndim == 2 and targets.dtype.is_floating_point and targets.shape == student.shape
    if not (hard or soft) or targets.shape[0] != student.shape[0]:
        raise ValueError(
            f"targets must be int class ids [B={student.shape[0]}] or float probabilities {list(student.shape)}, "
            f"got {targets.dtype} {list(targets.shape)}"
        )


class DistillationLoss(nn.Module):
    """Base class: subclasses implement ``forward`` with the call convention above."""

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k != "training")

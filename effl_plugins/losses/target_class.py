"""What losses that split the target class from the others share (DKD, NKD): the target class of each
sample, the ``target_from_teacher`` fallback and the student's CE term.

The target class comes from hard ``targets`` ``[B]`` or the argmax of soft ``[B, K]`` ones. Without
targets it is an error, unless ``target_from_teacher=True``: then the teacher's argmax is the target
class and the CE term is left out (unlabeled data).

Masked teacher classes (``-inf`` teacher logits) are probability 0, in the binary and in the non-target
distributions alike; a teacher row with every non-target class masked has no non-target distribution
and is refused with a ValueError.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import DistillationLoss, check_non_negative, check_positive

__all__ = ["TargetClassLoss"]


class TargetClassLoss(DistillationLoss):
    """Base of the losses that need each sample's target class (``name`` is used in messages).

    Args:
        temperature: softening temperature, > 0.
        ce_weight: weight of the student's cross-entropy on ``targets``, >= 0.
        target_from_teacher: without targets, take the teacher's argmax as the target class.
        teacher_classes: optional teacher class index per student class.
    """

    name = "target-class loss"
    masked_teacher = True
    #: Arguments of the conformance checks (effl_plugins.testing), which also call it without targets.
    conformance_kwargs = {"target_from_teacher": True}

    def __init__(self, temperature: float, ce_weight: float, target_from_teacher: bool, teacher_classes: Any):
        super().__init__(teacher_classes)
        self.temperature = check_positive(temperature, "temperature")
        self.ce_weight = check_non_negative(ce_weight, "ce_weight")
        self.target_from_teacher = bool(target_from_teacher)

    def target_logits(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor | None, targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(student [B, K], teacher [B, K], target class [B])``, checked (at least two classes)."""
        student_logits, teacher_logits, masked = self.checked_logits(student_logits, teacher_logits, targets)
        if student_logits.shape[-1] < 2:
            raise ValueError(f"{self.name} needs at least 2 classes, got student_logits {list(student_logits.shape)}")
        if targets is None and not self.target_from_teacher:
            raise ValueError(
                f"{self.name} needs targets (the target class of each sample); got None. "
                "Pass class ids, or target_from_teacher=True to use the teacher's argmax"
            )
        gt = teacher_logits.argmax(-1) if targets is None else targets.argmax(-1) if targets.ndim == 2 else targets
        if masked:
            rest_masked = torch.isneginf(teacher_logits).scatter(1, gt[:, None], True).all(-1)
            if bool(rest_masked.any()):
                row = int(rest_masked.nonzero()[0])
                raise ValueError(
                    f"{type(self).__name__} refuses teacher_logits row {row}: -inf in every class but the target "
                    f"class {int(gt[row])} (the non-target distribution has no class left)"
                )
        return student_logits, teacher_logits, gt

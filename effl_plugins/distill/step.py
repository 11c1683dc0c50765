"""One distillation training step: a frozen teacher's outputs and a distillation loss on a batch
that may mix labeled and unlabeled images (Hinton et al. 2015; feature hints as in FitNets,
Romero et al. 2015, and attention transfer, Zagoruyko & Komodakis 2017).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FeatureModel", "DistillStep"]


class FeatureModel(nn.Module):
    """``forward(x) -> (logits, features)`` with ``features`` the last intermediate map ``[B, C, H, W]``.

    Uses timm's ``forward_intermediates`` where the model has it, else ``forward_features``. Being
    a module of its own, it can be wrapped in DDP so gradient synchronisation still happens.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if hasattr(self.model, "forward_intermediates"):
            final, intermediates = self.model.forward_intermediates(x, indices=1)
            features = intermediates[-1]
        else:
            final = features = self.model.forward_features(x)
        return self.model.forward_head(final), features


class DistillStep:
    """Loss of one batch for a student distilled from a frozen teacher.

    Images whose target is ``-1`` (unlabeled) get the loss without targets; labeled ones with
    them; the two parts are weighted by their share of the batch (so ``kd`` becomes
    ``alpha · KD + (1 − alpha) · CE`` on labeled images and KD alone on the others).
    """

    def __init__(self, teacher: nn.Module, loss: nn.Module, features: bool = False):
        self.teacher = teacher.eval().requires_grad_(False)
        self.teacher_forward = FeatureModel(teacher) if features else teacher
        self.loss = loss
        self.features = features

    def __call__(self, student: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        self.teacher.eval()
        with torch.no_grad():
            teacher_out = self.teacher_forward(x)
        student_out = student(x)
        if self.features:
            (s_logits, s_feat), (t_logits, t_feat) = student_out, teacher_out
        else:
            s_logits, t_logits, s_feat, t_feat = student_out, teacher_out, None, None
        labeled = targets >= 0
        if bool(labeled.all()) or not bool(labeled.any()):
            return self._call(s_logits, t_logits, targets if bool(labeled.all()) else None, s_feat, t_feat, slice(None))
        share = labeled.float().mean()
        with_labels = self._call(s_logits, t_logits, targets[labeled], s_feat, t_feat, labeled)
        without = self._call(s_logits, t_logits, None, s_feat, t_feat, ~labeled)
        return {k: share * with_labels[k] + (1 - share) * without[k] for k in with_labels if k in without}

    def _call(self, s_logits, t_logits, targets, s_feat, t_feat, rows) -> dict[str, torch.Tensor]:
        features = {"student_features": s_feat[rows], "teacher_features": t_feat[rows]} if self.features else {}
        out = self.loss(s_logits[rows], t_logits[rows].float(), targets, **features)
        return out if isinstance(out, dict) else {"loss": out}

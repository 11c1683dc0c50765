"""Knowledge distillation: a frozen teacher teaches the student through any registered loss
(Hinton et al. 2015; feature hints as in FitNets, Romero et al. 2015).

The teacher runs in ``eval()`` under ``no_grad`` on its own input (normalisation and size), never in DDP.
The student and the loss form the trainable module, so a loss's own parameters (a FitNet adapter) train
with the student.

Labeled rows get the loss with targets, rows without a label the loss without them (the teacher's
soft labels alone), each averaged over its own rows, and the step's loss is
``L_labeled + unlabeled_weight · L_unlabeled`` (1 by default, as FixMatch's ``L_s + λ_u L_u``), whatever
share of the batch the labeled images are. A part of a single image is left out of that step (a loss's
adapters may hold BatchNorm, which cannot take one image).

A stored teacher (``teacher_source``, e.g. :class:`~effl_plugins.strategies.teacher_cache.CacheReader`,
filled by :class:`TeacherRecordingTask`) replaces the teacher's forward: ``source(indices, epoch, step)``
gives the step's teacher logits, and ``source.check()`` runs once an epoch.

Features: a loss with ``uses_features = True`` receives ``student_features=``/``teacher_features=``
(the last intermediate map ``[B, C, H, W]``); with ``feature_levels = N`` it receives lists of N maps,
shallow to deep, from timm's ``forward_intermediates``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..inputs import ModelInput
from .base import Batch, Task

__all__ = ["DistillationTask", "FeatureModel", "StudentWithLoss", "TeacherRecordingTask", "feature_levels"]


def feature_levels(loss: nn.Module) -> int:
    """0 for a logit loss, else how many intermediate maps the loss takes."""
    levels = getattr(loss, "feature_levels", None)
    if levels:
        return int(levels)
    return 1 if getattr(loss, "uses_features", False) else 0


class FeatureModel(nn.Module):
    """``forward(x) -> (logits, features)``: the last ``levels`` intermediate maps (a map for 1, a list
    for more) from timm's ``forward_intermediates``, else ``forward_features``."""

    def __init__(self, model: nn.Module, levels: int = 1):
        super().__init__()
        self.model, self.levels = model, levels

    def forward(self, x: torch.Tensor):
        if hasattr(self.model, "forward_intermediates"):
            final, intermediates = self.model.forward_intermediates(x, indices=self.levels)
            features = intermediates[-1] if self.levels == 1 else list(intermediates)
        else:
            final = self.model.forward_features(x)
            features = final if self.levels == 1 else [final]
        return self.model.forward_head(final), features


def _positions(mask: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` positions where ``mask`` is True, found on the device (a boolean index would read it)."""
    return torch.nonzero_static(mask, size=count).squeeze(1)


class StudentWithLoss(nn.Module):
    """The trainable half of distillation: the student's forward and the loss, in one module."""

    def __init__(self, student: nn.Module, loss: nn.Module, levels: int, unlabeled_weight: float = 1.0):
        super().__init__()
        self.student = FeatureModel(student, levels) if levels else student
        self.loss, self.levels, self.unlabeled_weight = loss, levels, unlabeled_weight

    @property
    def network(self) -> nn.Module:
        """The student itself, without the wrapper that returns its feature maps."""
        return self.student.model if self.levels else self.student

    def forward(self, x, teacher_out, targets, labeled, count: int | None = None) -> dict[str, torch.Tensor]:
        """``count``: how many rows ``labeled`` marks, when the caller knows it on the host (else read here)."""
        out = self.student(x)
        s_logits, s_feat = out if self.levels else (out, None)
        t_logits, t_feat = teacher_out if self.levels else (teacher_out, None)
        total = len(labeled)
        count = int(labeled.sum()) if count is None else count
        if count == total or count == 0 or min(count, total - count) == 1:
            # one kind of row, or a part of a single image: the whole batch with its labels, or without any
            with_targets = count == total or (count > 1 and total - count == 1)
            rows = _positions(labeled, count) if with_targets and count < total else slice(None)
            result = self._loss(s_logits, t_logits, targets[rows] if with_targets else None, s_feat, t_feat, rows)
            if not with_targets:
                result = {k: self.unlabeled_weight * v for k, v in result.items()}
        else:
            rows = _positions(labeled, count)
            with_labels = self._loss(s_logits, t_logits, targets[rows], s_feat, t_feat, rows)
            without = self._loss(s_logits, t_logits, None, s_feat, t_feat, _positions(~labeled, total - count))
            weight = self.unlabeled_weight
            result = {k: with_labels[k] + weight * without[k] for k in with_labels if k in without}
        result["output"] = s_logits
        return result

    def _loss(self, s_logits, t_logits, targets, s_feat, t_feat, rows) -> dict[str, torch.Tensor]:
        kwargs = {}
        if self.levels:
            pick = (lambda f: [m[rows] for m in f]) if isinstance(s_feat, list) else (lambda f: f[rows])
            kwargs = {"student_features": pick(s_feat), "teacher_features": pick(t_feat)}
        out = self.loss(s_logits[rows], t_logits[rows].float(), targets, **kwargs)
        return dict(out) if isinstance(out, dict) else {"loss": out}


class DistillationTask(Task):
    """Student learns from a frozen teacher through ``loss``.

    Args:
        student, student_input: the trained model and its input.
        teacher, teacher_input: the frozen teacher and ITS input (own mean/std/size).
        loss: a distillation loss module (``ep.create_loss(name, ...)``).
        unlabeled_weight: weight of the unlabeled rows' mean loss beside the labeled rows' (1).
    """

    def __init__(
        self,
        student: nn.Module,
        student_input: ModelInput,
        teacher: nn.Module | None,
        teacher_input: ModelInput | None,
        loss: nn.Module,
        unlabeled_weight: float = 1.0,
        *,
        teacher_source: Any = None,
    ):
        super().__init__(student, student_input)
        levels = feature_levels(loss)
        if (teacher is None) == (teacher_source is None):
            raise ValueError("DistillationTask takes a teacher model or a teacher_source (stored outputs), one of them")
        if teacher_source is not None and levels:
            raise ValueError(f"{type(loss).__name__} reads the teacher's feature maps; stored outputs hold none")
        self.teacher, self.teacher_input, self.teacher_source = teacher, teacher_input, teacher_source
        if teacher is not None:
            teacher.eval().requires_grad_(False)
        self.teacher_forward = FeatureModel(teacher, levels) if levels else teacher
        self.student_with_loss = StudentWithLoss(student, loss, levels, unlabeled_weight)
        self.loss = loss
        self.epoch = self.step = 0

    @property
    def trainable(self) -> nn.Module:
        return self.student_with_loss

    def frozen_prefixes(self) -> tuple[str, ...]:
        return ("teacher.", "teacher_forward.")

    def param_groups(self):
        groups = [{"params": [p for p in self.model.parameters() if p.requires_grad]}]
        extra = [p for p in self.loss.parameters() if p.requires_grad]
        return groups + ([{"params": extra}] if extra else [])

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def set_progress(self, epoch: int, step: int, steps_per_epoch: int, epochs: int) -> None:
        self.epoch, self.step = epoch, step
        if hasattr(self.loss, "set_progress"):
            self.loss.set_progress((epoch + step / max(steps_per_epoch, 1)) / max(epochs, 1))

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        if self.teacher_source is not None:
            self.teacher_source.check()  # at every epoch's end: the stored views were this epoch's
        return super().checkpoint_state()

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.teacher_source is not None:
            teacher_out = self.teacher_source(batch.indices, self.epoch, self.step)
        else:
            with torch.no_grad():
                teacher_out = self.teacher_forward(self.teacher_input(batch.images))
        return self.net(self.model_input(batch.images), teacher_out, batch.targets, batch.labeled, batch.labeled_count)


class TeacherRecordingTask(Task):
    """Runs a frozen teacher on every step's views and hands ``(epoch, step, indices, logits)`` to
    ``sink.record``; trains nothing. Its checkpoint carries ``sink.state()``, so an interrupted recording
    resumes exactly. The teacher is the run's model; the views are drawn for ``student_input``, as in the
    distillation run that reads them.
    """

    trains = False

    def __init__(self, teacher: nn.Module, teacher_input: ModelInput, sink: Any, student_input: ModelInput):
        super().__init__(teacher.eval().requires_grad_(False), teacher_input)
        self.sink, self.student_input = sink, student_input
        self.epoch = self.step = 0

    @property
    def view_input(self) -> ModelInput:
        return self.student_input

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.eval()
        return self

    def set_progress(self, epoch: int, step: int, steps_per_epoch: int, epochs: int) -> None:
        self.epoch, self.step = epoch, step

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            logits = self.model(self.model_input(batch.images))
        self.sink.record(self.epoch, self.step, batch.indices.cpu(), logits)
        return {"loss": logits.new_zeros(()), "output": logits}

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        return {f"sink.{k}": v for k, v in self.sink.state().items()}

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        self.sink.load_state({k.removeprefix("sink."): v for k, v in state.items() if k.startswith("sink.")})

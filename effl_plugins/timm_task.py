"""Any registered distillation loss as a ``timm.task.TrainingTask``, for timm's own training loop.

timm (1.0.31+) runs a training objective as a *task*: ``task(input, target)`` returns a dict whose
``"loss"`` is backpropagated and whose ``"output"`` feeds the metrics. ``RegistryDistillationTask`` runs
every loss of the effl registry that way (KD, DKD, DIST, FitNets, attention transfer, third-party ones).

Conventions are timm.task's (``timm/task/distillation.py``): the teacher is a frozen ``DistillationTeacher``,
kept in ``eval()``, never wrapped by ``prepare_distributed``, re-normalising the student's input
(``DistillationTeacher.normalize_input``) when its mean/std differ. The ``trainable_module`` is the engine's
student-plus-loss module (:class:`~effl_plugins.train.tasks.distillation.StudentWithLoss`), so a loss with
parameters (FitNet regressors, CRD heads) trains with the student and is saved as task state.

Feature losses (``uses_features = True``) get ``student_features=``/``teacher_features=``: the last
intermediate map of each model from timm's ``forward_intermediates`` (a list of the last
``feature_levels`` maps when the loss sets it), and logits from ``forward_head`` on the same pass.
"""

from __future__ import annotations

from typing import Any

import torch
from timm.task import DistillationTeacher, TrainingTask
from timm.utils import unwrap_model
from torch import nn

from .kv import checked_factory
from .train.tasks.distillation import FeatureModel, StudentWithLoss, feature_levels

__all__ = ["RegistryDistillationTask", "feature_levels"]


def _build_loss(loss: str | nn.Module, loss_args: dict[str, Any]) -> nn.Module:
    if isinstance(loss, nn.Module):
        if loss_args:
            raise TypeError(
                f"loss arguments {sorted(loss_args)} apply to a loss given by name, not to a built "
                f"{type(loss).__name__}"
            )
        return loss
    if not isinstance(loss, str):
        raise TypeError(f"loss must be a registered loss name or an nn.Module, got {type(loss).__name__}")
    return checked_factory("losses", loss, loss_args)(**loss_args)


class RegistryDistillationTask(TrainingTask):
    """Distil a frozen teacher into ``student`` through registered loss ``loss`` (a timm training task).

    Args:
        student: the timm model to train (its ``pretrained_cfg`` mean/std describe the input).
        teacher: a timm model name (created with pretrained weights, or ``teacher_pretrained_path``),
            an ``nn.Module`` or a ``timm.task.DistillationTeacher``.
        loss: a registered loss name (``effl list losses``) or a built loss module.
        teacher_pretrained_path: weights file for a teacher given by name.
        device, dtype, verbose: as ``timm.task.TrainingTask``.
        **loss_args: the loss's constructor arguments (unknown ones: TypeError listing the valid ones).

    Shape:
        input ``[B, C, H, W]`` normalised for the student; target ``[B]`` class ids or ``[B, K]``
        soft targets (mixup). Returns scalars ``"loss"`` and the loss's terms, and ``"output"`` ``[B, K]``.

    Example:
        >>> import timm
        >>> task = RegistryDistillationTask(timm.create_model("test_resnet", num_classes=4),
        ...                                 timm.create_model("test_resnet", num_classes=4), loss="kd")
        >>> out = task(torch.randn(2, 3, 32, 32), torch.tensor([0, 3]))
        >>> sorted(out)
        ['ce', 'kd', 'loss', 'output']
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: str | nn.Module | DistillationTeacher,
        loss: str | nn.Module = "kd",
        *,
        teacher_pretrained_path: str | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        verbose: bool = False,
        **loss_args: Any,
    ):
        super().__init__(device=device, dtype=dtype, verbose=verbose)
        if not isinstance(student, nn.Module):
            raise TypeError(f"student must be an nn.Module (a timm model), got {type(student).__name__}")
        if not isinstance(teacher, DistillationTeacher):
            unwrapped = unwrap_model(student)
            teacher = DistillationTeacher(
                teacher,
                num_classes=getattr(unwrapped, "num_classes", None),
                in_chans=getattr(unwrapped, "in_chans", 3),
                pretrained_path=teacher_pretrained_path,
                device=self.device,
                dtype=self.dtype,
            )
        self.teacher = teacher
        self.teacher.requires_grad_(False).eval()
        built = _build_loss(loss, loss_args).to(self.device)
        self.levels = feature_levels(built)
        self.trainable_module = StudentWithLoss(student, built, self.levels)
        cfg = getattr(unwrap_model(student), "pretrained_cfg", None) or {}
        mean, std = cfg.get("mean", (0.485, 0.456, 0.406)), cfg.get("std", (0.229, 0.224, 0.225))
        for name, value in (("student_mean", mean), ("student_std", std)):
            buffer = torch.tensor(value, device=self.device, dtype=self.dtype).view(1, -1, 1, 1)
            self.register_buffer(name, buffer, persistent=False)

    def _module(self, module: nn.Module | None = None, ema: bool = False) -> StudentWithLoss | None:
        current = module if module is not None else self.get_trainable_module(ema=ema)
        while current is not None and not isinstance(current, StudentWithLoss):
            current = getattr(current, "module", None)  # DDP, ModelEma
        return current

    @property
    def loss(self) -> nn.Module:
        return self._module().loss

    def train(self, mode: bool = True) -> RegistryDistillationTask:
        super().train(mode)
        self.teacher.eval()
        return self

    def prepare_distributed(self, device_ids: list | None = None, **ddp_kwargs) -> RegistryDistillationTask:
        """Wrap the student and loss in DDP; the frozen teacher stays unwrapped."""
        from torch.nn.parallel import DistributedDataParallel

        self.teacher.requires_grad_(False)
        self.trainable_module = DistributedDataParallel(self.trainable_module, device_ids=device_ids, **ddp_kwargs)
        return self

    def get_eval_model(self, module: nn.Module | None = None, ema: bool = False) -> nn.Module | None:
        """The student alone (what validation and checkpoint export use)."""
        if module is None and hasattr(self, "eval_model_ema" if ema else "eval_model"):
            return super().get_eval_model(ema=ema)
        trainable = self._module(module, ema)
        return trainable.network if trainable is not None else super().get_eval_model(module=module, ema=ema)

    def get_clip_parameters(self, exclude_head: bool = False):
        trainable = self._module()
        parameters = list(trainable.network.parameters())
        if exclude_head:
            parameters = parameters[:-2]
        return parameters + list(trainable.loss.parameters())

    def get_task_state(self, module: nn.Module | None = None, ema: bool = False) -> dict[str, Any]:
        """The loss's own state (FitNet regressors, CRD memory), when it has any."""
        trainable = self._module(module, ema)
        state = trainable.loss.state_dict() if trainable is not None else {}
        return {"loss": state} if state else {}

    def load_task_state(
        self, state: dict[str, Any] | None, strict: bool = True, module: nn.Module | None = None, ema: bool = False
    ) -> None:
        if state and "loss" in state:
            self._module(module, ema).loss.load_state_dict(state["loss"], strict=strict)

    def forward(self, input: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Teacher (no grad, own normalisation) then student and loss; ``target=None`` distils without labels."""
        with torch.no_grad():
            teacher_input = self.teacher.normalize_input(input, self.student_mean, self.student_std).detach()
            teacher = FeatureModel(self.teacher.model, self.levels) if self.levels else self.teacher
            teacher_out = teacher(teacher_input)
        size = len(input) if target is not None else 0
        labeled = torch.full((len(input),), target is not None, dtype=torch.bool, device=input.device)
        return self.trainable_module(input, teacher_out, target, labeled, size)

"""What a training objective is: a ``timm.task.TrainingTask`` whose ``forward(batch)`` returns
``{"loss": ..., ...}``; one engine runs every task. A task's buffers (per-image or EMA statistics) are in
its checkpoints, so a resumed run is exact.

The task owns the model being trained (``trainable``) and anything frozen beside it (a teacher). Under
``torchrun`` the engine wraps ``trainable`` alone in DistributedDataParallel and hands the wrapper back
through :meth:`set_net`; a task runs ``self.net(...)``, so gradients are synchronised.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import torch
from timm.task import TrainingTask
from torch import nn

from ..inputs import ModelInput

__all__ = ["Batch", "Task", "NoArguments", "class_count", "check_flag", "SPLIT_REFUSALS"]

#: Why a task (or strategy) that trains on one view of each image refuses timm's augmentation splits.
SPLIT_REFUSALS = {
    "aug_splits": "trains on one view of each image: leave out --aug-splits (finetune and linear_probe take it)",
    "jsd_loss": "trains on one view of each image: leave out --jsd-loss (finetune and linear_probe take it)",
}


@dataclass
class Batch:
    """One step's data on the device, after the batch augmentation and mixing.

    ``images``: uint8 (or float 0..1) ``[B, C, H, W]``; ``targets``: int64 class ids ``[B]`` (``-1`` where
    unlabeled) or float probabilities ``[B, K]`` after mixing; ``labeled``: bool ``[B]``;
    ``unlabeled``: a second stream's images ``[U, C, H, W]``; ``generator``: the step's random generator;
    ``indices``: int64 dataset positions of the epoch stream's images (``unlabeled`` when drawn, else
    ``images``); ``labeled_count``: how many rows ``labeled`` marks when known on the host (None: unknown).
    """

    images: torch.Tensor
    targets: torch.Tensor
    labeled: torch.Tensor
    unlabeled: torch.Tensor | None = None
    generator: torch.Generator | None = None
    indices: torch.Tensor | None = None
    labeled_count: int | None = None


@dataclass(frozen=True)
class NoArguments:
    """The arguments of a task that takes none of its own."""


def check_flag(value: Any, name: str) -> bool:
    """``value`` when it is True or False, else ``ValueError`` naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def class_count(model: nn.Module, num_classes: int | None = None) -> int:
    """K: ``num_classes`` when given, else the model's own ``num_classes`` (every timm classifier has one)."""
    return int(num_classes if num_classes is not None else model.num_classes)


class Task(TrainingTask):
    """Base of the training tasks: a ``timm.task.TrainingTask`` whose forward takes the engine's :class:`Batch`.

    Args:
        model: the model being trained (its weights are what ``checkpoint.pt`` holds).
        model_input: uint8 batch -> the model's normalised input (:class:`ModelInput`).
    """

    #: ``mu``: unlabeled images drawn per labeled image each step (0: one stream).
    unlabeled_ratio: int = 0
    #: Whether the engine applies ``--aug``, Random Erasing and mixing to ``batch.images`` before ``forward``.
    batch_augmentation: bool = True
    #: False for a task whose forward is all a step does: no optimizer, scheduler or backward.
    trains: bool = True
    #: The shared settings the task does not apply, each with its reason (``"<strategy> <reason>"``).
    refused_settings: ClassVar[dict[str, str]] = {}
    #: Whether the task takes timm's augmentation splits (rows ``[N * B]``) and the JSD loss over them.
    takes_aug_splits: ClassVar[bool] = False
    #: The method's own arguments (what its strategy takes): a frozen dataclass, checked when it is built.
    Arguments: ClassVar[type] = NoArguments
    #: Keyword arguments the task reads off the data, not the user: ``num_classes``, ``num_unlabeled``.
    data_arguments: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def argument_names(cls) -> tuple[str, ...]:
        """The fields of :attr:`Arguments`, in order."""
        return tuple(f.name for f in fields(cls.Arguments))

    @classmethod
    def refusals(cls) -> dict[str, str]:
        """``refused_settings``, plus ``aug``/``mixup``/``cutmix``/``reprob`` (a generic reason where the task gives
        none) when ``batch_augmentation`` is False, and ``aug_splits``/``jsd_loss`` unless ``takes_aug_splits``."""
        generic = {}
        if not cls.batch_augmentation:
            generic = {
                name: f"applies its own augmentations (its task takes no batch augmentation): {flag} has no "
                f"effect on it; pass the strategy's own augmentation arguments with --strategy-arg instead "
                f"(effl info lists them)"
                for name, flag in (
                    ("aug", "--aug"),
                    ("mixup", "--mixup"),
                    ("cutmix", "--cutmix/--cutmix-minmax"),
                    ("reprob", "--reprob"),
                )
            }
        splits = {} if cls.takes_aug_splits else SPLIT_REFUSALS
        return {**generic, **splits, **cls.refused_settings}

    def __init__(self, model: nn.Module, model_input: ModelInput):
        super().__init__(verbose=False)
        self.model = model
        self.model_input = model_input
        self._net: nn.Module | None = None

    @property
    def trainable(self) -> nn.Module:
        """The module whose parameters the optimizer updates and DDP synchronises."""
        return self.model

    @property
    def net(self) -> nn.Module:
        """``trainable``, or its DDP wrapper once the engine has set one."""
        return self._net if self._net is not None else self.trainable

    def set_net(self, net: nn.Module | None) -> None:
        object.__setattr__(self, "_net", net)  # not a submodule: no second copy in state_dict

    def prepare_distributed(self, device_ids: list | None = None, **ddp_kwargs: Any) -> Task:
        """timm's step before a distributed loop: ``trainable`` alone wrapped in DistributedDataParallel."""
        from torch.nn.parallel import DistributedDataParallel

        self.set_net(DistributedDataParallel(self.trainable, device_ids=device_ids, **ddp_kwargs))
        return self

    def get_trainable_module(self, ema: bool = False) -> nn.Module | None:
        """timm's name for :attr:`net` (the EMA copy with ``ema``, when ``setup_ema`` made one)."""
        return super().get_trainable_module(ema=True) if ema else self.net

    def get_eval_model(self, module: nn.Module | None = None, ema: bool = False) -> nn.Module | None:
        """timm's name for :meth:`eval_model`."""
        if module is not None or ema:
            return super().get_eval_model(module, ema=ema)
        return self.eval_model()

    @property
    def view_input(self) -> ModelInput:
        """The input the batch's views are drawn for (Random Erasing writes its values in its normalisation):
        ``model_input``, except where a task reads the views with another model's input."""
        return self.model_input

    def eval_model(self) -> nn.Module:
        """The model evaluated after each epoch and saved as the run's model (the student)."""
        return self.model

    def param_groups(self) -> list[dict[str, Any]] | None:
        """Optimizer parameter groups, or None for timm's defaults over ``trainable``."""
        return None

    def set_progress(self, epoch: int, step: int, steps_per_epoch: int, epochs: int) -> None:
        """Called before every step (curricula, ramp-ups); must depend on its arguments alone."""

    def after_step(self) -> None:
        """Called after every optimizer step (e.g. an EMA teacher's update)."""

    def frozen_prefixes(self) -> tuple[str, ...]:
        """``state_dict`` prefixes left out of checkpoints (frozen teachers are reloaded from their spec)."""
        return ()

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        skip = self.frozen_prefixes()
        return {k: v for k, v in self.state_dict().items() if not k.startswith(skip)}

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        skip = self.frozen_prefixes()
        missing = [k for k in missing if not k.startswith(skip)]
        if missing or unexpected:
            raise RuntimeError(f"task state does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

"""UDA (Xie et al. 2020, "Unsupervised Data Augmentation for Consistency Training"): the weak view's
sharpened prediction ``softmax(z_weak / T)`` (``T = 0.4``, detached) is the target of the strong view,
``L_u = mean_b 1[max softmax(z_weak_b) >= beta] * KL(target_b || softmax(z_strong_b))`` (confidence
mask ``beta = 0.8``; KL has the gradient of the cross-entropy), one forward over all views.

Training signal annealing (TSA, off by default): a labeled image whose probability of its own class
exceeds ``eta_t = alpha_t * (1 - 1/K) + 1/K`` leaves the supervised loss, which averages over the
images kept; ``alpha_t`` grows with the progress ``t`` in [0, 1]: ``t`` (linear), ``1 - exp(-5 t)``
(log) or ``exp(5 (t - 1))`` (exp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import fraction, positive
from ..inputs import ModelInput
from .base import Batch, class_count
from .fixmatch import FixMatchArguments, FixMatchTask, check_view_logits

__all__ = [
    "UDATask",
    "UDAArguments",
    "TSA_SCHEDULES",
    "tsa_threshold",
    "tsa_supervised_loss",
    "uda_unlabeled_loss",
]

TSA_SCHEDULES = ("none", "linear", "log", "exp")


@dataclass(frozen=True)
class UDAArguments(FixMatchArguments):
    """FixMatch's, ``threshold`` being the confidence mask (0.8); ``temperature``, the targets' sharpening
    temperature (0.4); ``tsa``, training signal annealing (``TSA_SCHEDULES``)."""

    threshold: float = 0.8
    temperature: float = 0.4
    tsa: str = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self.temperature, "temperature")
        _check_tsa(self.tsa)


def _check_tsa(schedule: str) -> str:
    if schedule not in TSA_SCHEDULES:
        raise ValueError(f"tsa must be one of {', '.join(TSA_SCHEDULES)}, got {schedule!r}")
    return schedule


def tsa_threshold(schedule: str, progress: float, num_classes: int) -> float:
    """``eta_t = alpha_t * (1 - 1/K) + 1/K`` for ``progress`` ``t`` in [0, 1]; 1.0 for ``"none"``."""
    if _check_tsa(schedule) == "none":
        return 1.0
    t = min(max(float(progress), 0.0), 1.0)
    alpha = {"linear": t, "log": 1.0 - math.exp(-5.0 * t), "exp": math.exp(5.0 * (t - 1.0))}[schedule]
    return alpha * (1.0 - 1.0 / num_classes) + 1.0 / num_classes


def tsa_supervised_loss(logits: torch.Tensor, targets: torch.Tensor, threshold: float = 1.0) -> dict[str, torch.Tensor]:
    """Cross-entropy over the labeled images whose own-class probability is ``<= threshold``, averaged over
    them (0 when none is kept).

    Shape: logits ``[B, K]``, targets int64 ``[B]`` -> ``loss`` scalar, ``kept`` float ``[B]``.
    """
    per_image = F.cross_entropy(logits.float(), targets, reduction="none")
    own = torch.softmax(logits.detach().float(), dim=1).gather(1, targets[:, None])[:, 0]
    kept = (own <= threshold).float()
    return {"loss": (per_image * kept).sum() / kept.sum().clamp(min=1.0), "kept": kept}


def uda_unlabeled_loss(
    weak_logits: torch.Tensor, strong_logits: torch.Tensor, temperature: float = 0.4, threshold: float = 0.8
) -> dict[str, torch.Tensor]:
    """``mean_b 1[max softmax(weak_b) >= threshold] * KL(softmax(weak_b / T) || softmax(strong_b))``, the
    weak side detached.

    Shape: weak_logits, strong_logits ``[U, K]`` -> ``loss`` scalar, ``mask`` float ``[U]``, ``targets`` ``[U, K]``.
    """
    check_view_logits(weak_logits, strong_logits)
    positive(temperature, "temperature")
    fraction(threshold, "threshold")
    weak = weak_logits.detach().float()
    mask = (torch.softmax(weak, dim=1).max(dim=1).values >= threshold).float()
    targets = torch.softmax(weak / temperature, dim=1)
    log_student = torch.log_softmax(strong_logits.float(), dim=1)
    kl = (targets * (torch.log_softmax(weak / temperature, dim=1) - log_student)).sum(dim=1)
    return {"loss": (kl * mask).mean(), "mask": mask, "targets": targets}


class UDATask(FixMatchTask):
    """Sharpened weak-to-strong consistency with a confidence mask, optional TSA; ``num_classes``: K (default:
    the model's); ``**arguments``: :class:`UDAArguments`."""

    Arguments = UDAArguments
    data_arguments = ("num_classes",)

    def __init__(self, model: nn.Module, model_input: ModelInput, *, num_classes: int | None = None, **arguments: Any):
        tsa_threshold(arguments.get("tsa", "none"), 0.0, 2)  # a schedule tsa_threshold runs
        super().__init__(model, model_input, **arguments)
        self.temperature, self.tsa = float(self.arguments.temperature), self.arguments.tsa
        self.num_classes = class_count(model, num_classes)
        self.progress = 0.0

    def set_progress(self, epoch: int, step: int, steps_per_epoch: int, epochs: int) -> None:
        self.progress = (epoch * steps_per_epoch + step) / max(epochs * steps_per_epoch, 1)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits_l, logits_weak, logits_strong = self.view_logits(batch)
        unlabeled = uda_unlabeled_loss(logits_weak, logits_strong, self.temperature, self.threshold)
        eta = tsa_threshold(self.tsa, self.progress, self.num_classes)
        supervised = tsa_supervised_loss(logits_l, batch.targets, eta)
        return self.step_outputs(
            logits_l,
            supervised["loss"],
            unlabeled["loss"],
            unlabeled["mask"].mean(),
            tsa_kept=supervised["kept"].mean(),
        )

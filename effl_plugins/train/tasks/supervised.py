"""Supervised training: cross-entropy against class ids or probability targets (one-hot labels,
MixUp/CutMix mixtures, a teacher's pseudo-labels), with timm's label smoothing; or timm's
``BinaryCrossEntropy`` (``--bce-loss``: one sigmoid per class, as in "ResNet strikes back", Wightman et al. 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..inputs import ModelInput
from .base import Batch, Task

__all__ = ["SupervisedTask", "classification_loss", "binary_classification_loss", "jsd_loss"]


def classification_loss(
    logits: torch.Tensor, targets: torch.Tensor, smoothing: float = 0.0, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean cross-entropy in float32 against int ids ``[B]`` or probabilities ``[B, K]``; with ``rows`` (bool
    ``[B]``), the mean over those rows alone (0 when there are none), computed without a host read."""
    logits = logits.float()
    targets = targets.float() if targets.is_floating_point() else targets
    if rows is None:
        return F.cross_entropy(logits, targets, label_smoothing=smoothing)
    if targets.ndim == 1:  # the other rows' ids (-1: unlabeled) are out of range
        targets = torch.where(rows, targets, 0)
    per_row = F.cross_entropy(logits, targets, reduction="none", label_smoothing=smoothing)
    return torch.where(rows, per_row, 0.0).sum() / rows.sum().clamp(min=1)


def binary_classification_loss(
    logits: torch.Tensor, targets: torch.Tensor, smoothing: float = 0.0, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """timm's ``BinaryCrossEntropy(smoothing=smoothing)`` in float32 against int ids ``[B]`` or probabilities
    ``[B, K]``: the mean over rows (only ``rows``, when given) of each row's mean over the K classes."""
    from timm.loss import BinaryCrossEntropy

    logits = logits.float()
    targets = targets.float() if targets.is_floating_point() else targets
    if targets.ndim == 1 and rows is not None:  # the other rows' ids (-1: unlabeled) are out of range
        targets = torch.where(rows, targets, 0)
    per_row = BinaryCrossEntropy(smoothing=smoothing, reduction="none")(logits, targets).mean(dim=1)
    if rows is None:
        return per_row.mean()
    return torch.where(rows, per_row, 0.0).sum() / rows.sum().clamp(min=1)


def jsd_loss(logits: torch.Tensor, targets: torch.Tensor, splits: int, smoothing: float = 0.0) -> torch.Tensor:
    """timm's ``JsdCrossEntropy(num_splits=splits, smoothing=smoothing)`` in float32.

    Shape:
        logits ``[N * B, K]`` (N views stacked view after view), targets int ``[N * B]`` -> scalar.
    """
    from timm.loss import JsdCrossEntropy

    if targets.ndim != 1 or targets.is_floating_point():
        raise ValueError(f"jsd_loss takes class ids [N * B], got targets of shape {tuple(targets.shape)}")
    return JsdCrossEntropy(num_splits=splits, smoothing=smoothing)(logits.float(), targets)


class SupervisedTask(Task):
    """``loss = CE(model(x), targets)`` over the labeled rows of the batch.

    Args:
        model, model_input: as in :class:`~effl_plugins.train.tasks.base.Task`.
        smoothing: label smoothing in [0, 1) (timm's ``--smoothing``).
        bce: timm's binary cross-entropy instead of cross-entropy (``--bce-loss``).
        jsd_splits: N > 0: :func:`jsd_loss` over batches of N views (``--aug-splits N --jsd-loss``; Hendrycks
            et al. 2020, "AugMix").
    """

    takes_aug_splits = True

    def __init__(
        self,
        model: nn.Module,
        model_input: ModelInput,
        smoothing: float = 0.0,
        bce: bool = False,
        jsd_splits: int = 0,
    ):
        super().__init__(model, model_input)
        self.smoothing = float(smoothing)
        self.loss_fn = binary_classification_loss if bce else classification_loss
        self.jsd_splits = int(jsd_splits)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits = self.net(self.model_input(batch.images))
        if self.jsd_splits:
            return {"loss": jsd_loss(logits, batch.targets, self.jsd_splits, self.smoothing), "output": logits}
        rows = None if batch.labeled_count == len(logits) else batch.labeled  # rows without a label add nothing
        return {"loss": self.loss_fn(logits, batch.targets, self.smoothing, rows), "output": logits}

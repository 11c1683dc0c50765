"""FreeMatch (Wang et al. 2023, "FreeMatch: Self-adaptive Thresholding for Semi-supervised Learning"):
FixMatch with a self-adaptive threshold and a self-adaptive fairness term.

Self-adaptive thresholding, updated every step from the weak-view probabilities ``q [U, K]``
(momentum ``m = 0.999``, all three start at ``1 / K``)::

    tau   <- m * tau   + (1 - m) * mean_b max_k q_bk          (global: the model's confidence)
    p~    <- m * p~    + (1 - m) * mean_b q_b                 (local: the mean probability per class)
    h     <- m * h     + (1 - m) * histogram(argmax q) / U    (the pseudo-label histogram)
    threshold_c = tau * p~_c / max_k p~_k

Self-adaptive fairness (weight ``lambda_f``, 0.001 in the official configurations): with the
strong-view probabilities ``s`` of the masked images and their histogram ``h_s``,
``L_f = sum_k SumNorm(p~ / h)_k * log SumNorm(mean s / h_s)_k`` (the negative cross-entropy; zero-count
classes get weight 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import fraction, non_negative
from ..distributed import all_gather_rows
from ..inputs import ModelInput
from .adaptive import AdaptiveArguments, AdaptiveFixMatchTask
from .base import Batch

__all__ = ["FreeMatchTask", "FreeMatchArguments", "freematch_update", "freematch_mask", "fairness_loss"]


@dataclass(frozen=True)
class FreeMatchArguments(AdaptiveArguments):
    """``lambda_f``, the weight of the fairness term (0.001; 0 drops it), and :class:`AdaptiveArguments`."""

    lambda_f: float = 0.001

    def __post_init__(self) -> None:
        super().__post_init__()
        non_negative(self.lambda_f, "lambda_f")


@torch.no_grad()
def freematch_update(
    probs: torch.Tensor, time_p: torch.Tensor, p_model: torch.Tensor, label_hist: torch.Tensor, momentum: float = 0.999
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the EMA statistics: the new ``(tau, p~, h)``.

    Shape: probs ``[U, K]``, time_p scalar, p_model ``[K]``, label_hist ``[K]`` -> scalar, ``[K]``, ``[K]``.
    """
    fraction(momentum, "momentum")
    if probs.ndim != 2 or p_model.shape != probs.shape[1:] or label_hist.shape != probs.shape[1:]:
        raise ValueError(
            f"probs must be [U, K] with p_model and label_hist [K], got {tuple(probs.shape)}, "
            f"{tuple(p_model.shape)}, {tuple(label_hist.shape)}"
        )
    confidence, classes = probs.max(dim=1)
    hist = torch.bincount(classes, minlength=probs.shape[1]).to(probs.dtype) / len(classes)
    time_p = momentum * time_p + (1 - momentum) * confidence.mean()
    p_model = momentum * p_model + (1 - momentum) * probs.mean(dim=0)
    label_hist = momentum * label_hist + (1 - momentum) * hist
    return time_p, p_model, label_hist


@torch.no_grad()
def freematch_mask(probs: torch.Tensor, time_p: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    """``1[max_k q_bk >= tau * p~_c / max p~]`` with ``c = argmax_k q_bk``.

    Shape: probs ``[U, K]``, time_p scalar, p_model ``[K]`` -> float ``[U]``.
    """
    confidence, classes = probs.max(dim=1)
    return (confidence >= time_p * (p_model / p_model.max())[classes]).to(probs.dtype)


def _inverse_or_zero(values: torch.Tensor) -> torch.Tensor:
    inverse = 1.0 / values
    return torch.where(torch.isinf(inverse), torch.zeros_like(inverse), inverse)


def fairness_loss(
    strong_logits: torch.Tensor, mask: torch.Tensor, p_model: torch.Tensor, label_hist: torch.Tensor
) -> torch.Tensor:
    """The self-adaptive fairness term ``sum_k SumNorm(p~ / h)_k log SumNorm(mean s / h_s)_k`` over the
    masked images (0 when none is masked); the gradient reaches ``strong_logits`` only.

    Shape: strong_logits ``[U, K]``, mask ``[U]``, p_model ``[K]``, label_hist ``[K]`` -> scalar.
    """
    keep = (mask.detach() > 0).float()  # weights, not a boolean index: no host read
    kept = keep.sum()
    probs = torch.softmax(strong_logits.float(), dim=1)
    hist = torch.bincount(probs.detach().argmax(dim=1), weights=keep, minlength=probs.shape[1]).float()
    hist = hist / kept.clamp(min=1.0)
    target = p_model.detach().float() * _inverse_or_zero(label_hist.detach().float())
    target = target / target.sum()
    mean = (probs * keep[:, None]).sum(dim=0) / kept.clamp(min=1.0) * _inverse_or_zero(hist)
    mean = mean / mean.sum().clamp(min=1e-12)
    return (target * torch.log(mean + 1e-12)).sum() * (kept > 0)


class FreeMatchTask(AdaptiveFixMatchTask):
    """FixMatch with self-adaptive thresholds and the fairness term; ``**arguments``: :class:`FreeMatchArguments`.

    Buffers: ``time_p`` (scalar), ``p_model`` ``[K]``, ``label_hist`` ``[K]``.
    """

    Arguments = FreeMatchArguments

    def __init__(self, model: nn.Module, model_input: ModelInput, **arguments: Any):
        super().__init__(model, model_input, **arguments)
        self.lambda_f = float(self.arguments.lambda_f)
        self.register_buffer("time_p", torch.tensor(1.0 / self.num_classes))
        self.register_buffer("label_hist", torch.full((self.num_classes,), 1.0 / self.num_classes))

    @torch.no_grad()
    def update(self, probs: torch.Tensor) -> None:
        """Fold one step's weak-view probabilities (every rank's) into the statistics."""
        new = freematch_update(all_gather_rows(probs), self.time_p, self.p_model, self.label_hist, self.momentum)
        for buffer, value in zip((self.time_p, self.p_model, self.label_hist), new):
            buffer.copy_(value)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits_l, logits_weak, logits_strong = self.view_logits(batch)
        probs = torch.softmax(logits_weak.detach().float(), dim=1)
        self.update(probs)
        mask = freematch_mask(probs, self.time_p, self.p_model)
        pseudo = probs.argmax(dim=1)
        consistency = (F.cross_entropy(logits_strong.float(), pseudo, reduction="none") * mask).mean()
        fairness = fairness_loss(logits_strong, mask, self.p_model, self.label_hist)
        supervised = F.cross_entropy(logits_l.float(), batch.targets)
        return self.step_outputs(
            logits_l, supervised, consistency, mask.mean(), self.lambda_f * fairness, loss_f=fairness.detach()
        )

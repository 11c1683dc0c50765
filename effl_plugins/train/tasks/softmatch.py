"""SoftMatch (Chen et al. 2023, "SoftMatch: Addressing the Quantity-Quality Trade-off in Semi-supervised
Learning"): FixMatch with a soft, truncated-Gaussian sample weight instead of a hard threshold.

Every step, on the weak-view probabilities ``q [U, K]`` (momentum ``m = 0.999``):

* uniform alignment: ``p_model <- m * p_model + (1 - m) * mean_b q_b`` (the first step sets it to the
  batch mean), ``q' = Normalize(q * (1/K + 1e-6) / (p_model + 1e-6))``;
* the Gaussian's mean and variance of the aligned confidence ``c_b = max_k q'_bk``:
  ``mu <- m * mu + (1 - m) * mean_b c_b``, ``var <- m * var + (1 - m) * var_b c_b`` (unbiased;
  they start at ``1/K`` and 1);
* weight ``w_b = lambda_max * exp(-min(c_b - mu, 0)^2 / (2 var / n_sigma^2))`` (``lambda_max`` at or
  above the mean; ``lambda_max = 1``, ``n_sigma = 2`` in the paper).

The loss is ``mean_b w_b * CE(strong_b, argmax q_b)``: the pseudo-label comes from the unaligned
prediction, as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import positive
from ..distributed import all_gather_rows
from ..inputs import ModelInput
from .adaptive import AdaptiveArguments, AdaptiveFixMatchTask
from .base import Batch, check_flag

__all__ = ["SoftMatchTask", "SoftMatchArguments", "uniform_alignment", "truncated_gaussian_weights"]


@dataclass(frozen=True)
class SoftMatchArguments(AdaptiveArguments):
    """``n_sigma``, the Gaussian's width in standard deviations (2); ``lambda_max``, the largest weight (1);
    ``alignment``, uniform alignment (on in the paper); and :class:`AdaptiveArguments`."""

    n_sigma: float = 2.0
    lambda_max: float = 1.0
    alignment: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("n_sigma", "lambda_max"):
            positive(getattr(self, key), key)
        check_flag(self.alignment, "alignment")


def uniform_alignment(probs: torch.Tensor, p_model: torch.Tensor) -> torch.Tensor:
    """``Normalize(probs * (1/K + 1e-6) / (p_model + 1e-6))``.

    Shape: probs ``[U, K]``, p_model ``[K]`` -> ``[U, K]`` (rows sum to 1).
    """
    if probs.ndim != 2 or p_model.shape != probs.shape[1:]:
        raise ValueError(f"probs must be [U, K] and p_model [K], got {tuple(probs.shape)} and {tuple(p_model.shape)}")
    aligned = probs * (1.0 / probs.shape[1] + 1e-6) / (p_model + 1e-6)
    return aligned / aligned.sum(dim=1, keepdim=True)


def truncated_gaussian_weights(
    confidence: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, n_sigma: float = 2.0, lambda_max: float = 1.0
) -> torch.Tensor:
    """``lambda_max * exp(-min(confidence - mean, 0)^2 / (2 var / n_sigma^2))``.

    Shape: confidence ``[U]``, mean and var scalars -> ``[U]`` in ``(0, lambda_max]``.
    """
    gap = torch.clamp(confidence - mean, max=0.0)
    return lambda_max * torch.exp(-(gap**2) / (2.0 * var / n_sigma**2))


class SoftMatchTask(AdaptiveFixMatchTask):
    """FixMatch with truncated-Gaussian sample weights and uniform alignment; ``**arguments``:
    :class:`SoftMatchArguments`.

    Buffers: ``p_model`` ``[K]``, ``aligned_steps`` (0 until the first step), ``confidence_mean`` and
    ``confidence_var`` scalars.
    """

    Arguments = SoftMatchArguments

    def __init__(self, model: nn.Module, model_input: ModelInput, **arguments: Any):
        super().__init__(model, model_input, **arguments)
        a = self.arguments
        self.n_sigma, self.lambda_max, self.alignment = float(a.n_sigma), float(a.lambda_max), a.alignment
        self.register_buffer("aligned_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("confidence_mean", torch.tensor(1.0 / self.num_classes))
        self.register_buffer("confidence_var", torch.tensor(1.0))

    @torch.no_grad()
    def align(self, probs: torch.Tensor) -> torch.Tensor:
        """Update ``p_model`` with every rank's ``probs`` and return this rank's aligned ``probs``."""
        if not self.alignment:
            return probs
        batch_mean = all_gather_rows(probs).mean(dim=0)
        m = self.momentum
        self.p_model.copy_(torch.where(self.aligned_steps > 0, m * self.p_model + (1 - m) * batch_mean, batch_mean))
        self.aligned_steps.add_(1)
        return uniform_alignment(probs, self.p_model)

    @torch.no_grad()
    def weights(self, aligned: torch.Tensor) -> torch.Tensor:
        """Update the Gaussian's mean and variance with every rank's confidences; this rank's weights ``[U]``."""
        confidence = aligned.max(dim=1).values
        everyone = all_gather_rows(confidence)
        m = self.momentum
        self.confidence_mean.copy_(m * self.confidence_mean + (1 - m) * everyone.mean())
        if len(everyone) > 1:
            self.confidence_var.copy_(m * self.confidence_var + (1 - m) * everyone.var(unbiased=True))
        return truncated_gaussian_weights(
            confidence, self.confidence_mean, self.confidence_var, self.n_sigma, self.lambda_max
        )

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits_l, logits_weak, logits_strong = self.view_logits(batch)
        probs = torch.softmax(logits_weak.detach().float(), dim=1)
        weight = self.weights(self.align(probs))
        pseudo = probs.argmax(dim=1)
        consistency = (F.cross_entropy(logits_strong.float(), pseudo, reduction="none") * weight).mean()
        supervised = F.cross_entropy(logits_l.float(), batch.targets)
        return self.step_outputs(logits_l, supervised, consistency, weight.mean())

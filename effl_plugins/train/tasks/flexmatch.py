"""FlexMatch (Zhang et al. 2021, "FlexMatch: Boosting Semi-Supervised Learning with Curriculum Pseudo
Labeling"): FixMatch with a curriculum threshold per class.

The learning status of class ``c`` is ``sigma_c``, the number of unlabeled images whose latest
confident prediction (max probability above ``tau``) is ``c``, normalised by the largest count
(``beta_c = sigma_c / max_c' sigma_c'``); with the threshold warm-up the count of still unused images
joins that maximum, so every ``beta_c`` rises from 0 while most images are unused. The threshold of
class ``c`` is ``tau * M(beta_c)`` with the convex mapping ``M(x) = x / (2 - x)``; the loss is
FixMatch's, masked by these thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import fraction, integer
from ..distributed import all_gather_rows
from ..inputs import ModelInput
from .base import Batch, check_flag, class_count
from .fixmatch import FixMatchArguments, FixMatchTask, check_view_logits

__all__ = [
    "FlexMatchTask",
    "FlexMatchArguments",
    "convex_mapping",
    "flexmatch_learning_status",
    "flexmatch_unlabeled_loss",
]


@dataclass(frozen=True)
class FlexMatchArguments(FixMatchArguments):
    """FixMatch's, ``threshold`` being ``tau`` (the best-learned class's), and ``warmup``, the threshold
    warm-up (on in the paper)."""

    warmup: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_flag(self.warmup, "warmup")


def convex_mapping(beta: torch.Tensor) -> torch.Tensor:
    """FlexMatch's convex threshold mapping ``M(x) = x / (2 - x)`` (``M(0) = 0``, ``M(1) = 1``)."""
    return beta / (2.0 - beta)


#: ``selected``'s value for an unused image; one below the first class id (``bincount(selected - UNUSED)``).
UNUSED = -1


def flexmatch_learning_status(selected: torch.Tensor, num_classes: int, warmup: bool = True) -> torch.Tensor:
    """``beta_c = sigma_c / max(max_c' sigma_c', unused)`` (warm-up) or ``sigma_c / max_c' sigma_c'``.

    ``selected``: int64 ``[N]``, the latest confident class of each unlabeled image (``-1`` = unused).
    Shape: ``[N]`` -> float ``[K]``; all zeros while no image has been selected.
    """
    if selected.ndim != 1:
        raise ValueError(f"selected must be [N] class ids (-1 = unused), got shape {tuple(selected.shape)}")
    counts = torch.bincount(selected - UNUSED, minlength=num_classes + 1).float()
    unused, sigma = counts[0], counts[1:]
    largest = torch.maximum(sigma.max(), unused) if warmup else sigma.max()
    return sigma / largest.clamp(min=1.0)


def flexmatch_unlabeled_loss(
    weak_logits: torch.Tensor, strong_logits: torch.Tensor, beta: torch.Tensor, threshold: float = 0.95
) -> dict[str, torch.Tensor]:
    """``mean_b( 1[p_b >= tau * M(beta_{c_b})] * CE(strong_b, c_b) )`` with ``p_b, c_b`` the max and argmax
    of ``softmax(weak_b)`` (detached).

    Shape: weak_logits, strong_logits ``[U, K]``, beta ``[K]`` -> ``loss`` scalar, ``mask`` float ``[U]``,
    ``pseudo_labels`` int64 ``[U]``, ``confidence`` float ``[U]``.
    """
    check_view_logits(weak_logits, strong_logits)
    if beta.shape != weak_logits.shape[1:]:
        raise ValueError(f"beta must be [K] = [{weak_logits.shape[1]}], got {tuple(beta.shape)}")
    fraction(threshold, "threshold")
    confidence, pseudo = torch.softmax(weak_logits.detach().float(), dim=1).max(dim=1)
    mask = (confidence >= threshold * convex_mapping(beta.float())[pseudo]).float()
    per_image = F.cross_entropy(strong_logits.float(), pseudo, reduction="none")
    return {"loss": (per_image * mask).mean(), "mask": mask, "pseudo_labels": pseudo, "confidence": confidence}


class FlexMatchTask(FixMatchTask):
    """FixMatch with curriculum per-class thresholds.

    Args:
        num_unlabeled: N, the size of the unlabeled set (``batch.indices`` index it).
        num_classes: K (default: the model's ``num_classes``).
        **arguments: :class:`FlexMatchArguments`.

    Buffer ``selected``: int64 ``[N]``, the latest confident class of each unlabeled image, ``-1`` unused.
    """

    Arguments = FlexMatchArguments
    data_arguments = ("num_unlabeled", "num_classes")

    def __init__(
        self,
        model: nn.Module,
        model_input: ModelInput,
        *,
        num_unlabeled: int,
        num_classes: int | None = None,
        **arguments: Any,
    ):
        super().__init__(model, model_input, **arguments)
        integer(num_unlabeled, "num_unlabeled", low=1, note="the unlabeled set's size")
        self.num_classes = class_count(model, num_classes)
        self.warmup = self.arguments.warmup
        self.register_buffer("selected", torch.full((num_unlabeled,), UNUSED, dtype=torch.long))

    def learning_status(self) -> torch.Tensor:
        """``beta`` ``[K]`` from the current per-image state."""
        return flexmatch_learning_status(self.selected, self.num_classes, self.warmup)

    @torch.no_grad()
    def update_selected(self, indices: torch.Tensor, pseudo: torch.Tensor, confidence: torch.Tensor) -> None:
        """Record the class of every image of the step predicted above ``tau`` (all ranks' images)."""
        if indices is None or len(indices) != len(pseudo):
            raise ValueError("FlexMatch needs batch.indices: the dataset positions of the step's unlabeled images")
        indices, pseudo, confidence = (all_gather_rows(t) for t in (indices, pseudo, confidence))
        inside = ((indices >= 0) & (indices < len(self.selected))).all()
        torch._assert_async(inside, f"batch.indices must lie in [0, {len(self.selected)}) (num_unlabeled)")
        keep = confidence >= self.threshold
        self.selected[indices[keep]] = pseudo[keep]

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits_l, logits_weak, logits_strong = self.view_logits(batch)
        unlabeled = flexmatch_unlabeled_loss(logits_weak, logits_strong, self.learning_status(), self.threshold)
        self.update_selected(batch.indices, unlabeled["pseudo_labels"], unlabeled["confidence"])
        supervised = F.cross_entropy(logits_l.float(), batch.targets)
        return self.step_outputs(logits_l, supervised, unlabeled["loss"], unlabeled["mask"].mean())

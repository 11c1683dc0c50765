"""FixMatch (Sohn et al. 2020, "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
Confidence"): the prediction on a weakly augmented unlabeled image becomes a hard pseudo-label when
its confidence reaches ``threshold``; the model learns it on a strongly augmented view. Loss
``L_s + lambda_u * L_u`` with ``L_u`` averaged over all ``mu * B`` unlabeled images (masked ones
count as zero), as in the paper; one forward over labeled, weak and strong images together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import fraction, integer, non_negative
from ..inputs import ModelInput
from .base import Batch, Task
from .consistency import PLAIN_CROSS_ENTROPY, make_view, view_refusals

__all__ = ["FixMatchTask", "FixMatchArguments", "WeakStrongArguments", "check_view_logits", "fixmatch_unlabeled_loss"]


@dataclass(frozen=True)
class WeakStrongArguments:
    """What FixMatch and its kin (FlexMatch, FreeMatch, SoftMatch, UDA) take.

    Args:
        mu: unlabeled images per labeled image in a step (7 in the FixMatch paper).
        lambda_u: weight of the unlabeled loss (1 in the paper).
        weak, strong: batch augmentation SPECs (or modules) of the two views (weak None: the paper's).
        flip: keep the weak view's flip (off for data such as digits).
    """

    mu: int = 7
    lambda_u: float = 1.0
    weak: Any = None
    strong: Any = "rand_augment(num_ops=2, magnitude=10)"
    flip: bool = True

    def __post_init__(self) -> None:
        integer(self.mu, "mu (unlabeled ratio)", low=1)
        non_negative(self.lambda_u, "lambda_u")


@dataclass(frozen=True)
class FixMatchArguments(WeakStrongArguments):
    """FixMatch's arguments: ``threshold``, the confidence for a pseudo-label (0.95 in the paper), and
    :class:`WeakStrongArguments`."""

    threshold: float = 0.95

    def __post_init__(self) -> None:
        fraction(self.threshold, "threshold")
        super().__post_init__()


def check_view_logits(weak_logits: torch.Tensor, strong_logits: torch.Tensor) -> None:
    """``ValueError`` unless the weak and the strong view's logits are both ``[U, K]``."""
    if weak_logits.shape != strong_logits.shape or weak_logits.ndim != 2:
        raise ValueError(
            f"weak_logits and strong_logits must both be [U, K], got {tuple(weak_logits.shape)} "
            f"and {tuple(strong_logits.shape)}"
        )


def fixmatch_unlabeled_loss(
    weak_logits: torch.Tensor, strong_logits: torch.Tensor, threshold: float = 0.95
) -> dict[str, torch.Tensor]:
    """``mean_b( 1[max softmax(weak_b) >= threshold] * CE(strong_b, argmax weak_b) )``, the weak side detached.

    Shape: weak_logits, strong_logits ``[U, K]`` -> ``loss`` scalar, ``mask`` float ``[U]``,
    ``pseudo_labels`` int64 ``[U]``.
    """
    check_view_logits(weak_logits, strong_logits)
    fraction(threshold, "threshold")
    confidence, pseudo = torch.softmax(weak_logits.detach().float(), dim=1).max(dim=1)
    mask = (confidence >= threshold).float()
    per_image = F.cross_entropy(strong_logits.float(), pseudo, reduction="none")
    return {"loss": (per_image * mask).mean(), "mask": mask, "pseudo_labels": pseudo}


class FixMatchTask(Task):
    """Weak/strong consistency with a confidence threshold; ``**arguments``: :class:`FixMatchArguments`.

    The other weak/strong tasks (FlexMatch, FreeMatch, SoftMatch, UDA) inherit its views, refusals and outputs.
    """

    Arguments = FixMatchArguments
    #: Arguments of the conformance checks (effl_plugins.testing), inherited by the FixMatch family.
    conformance_kwargs = {"mu": 2}
    batch_augmentation = False
    refused_settings = {
        **view_refusals("--strategy-arg strong=SPEC / weak=SPEC"),
        "smoothing": PLAIN_CROSS_ENTROPY,
    }

    def __init__(self, model: nn.Module, model_input: ModelInput, **arguments: Any):
        super().__init__(model, model_input)
        self.arguments = a = self.Arguments(**arguments)
        self.threshold, self.unlabeled_ratio, self.lambda_u = getattr(a, "threshold", None), a.mu, a.lambda_u
        self.weak, self.strong = make_view(a.weak, flip=a.flip), make_view(a.strong)

    def view_logits(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One forward over the weak labeled, weak unlabeled and strong unlabeled views.

        Shape: ``batch.images [B, C, H, W]``, ``batch.unlabeled [U, C, H, W]`` -> logits ``[B, K]``,
        ``[U, K]``, ``[U, K]``.
        """
        g = batch.generator
        weak_l = self.weak(batch.images, g)
        weak_u = self.weak(batch.unlabeled, g)
        strong_u = self.strong(weak_u, g)
        logits = self.net(self.model_input(torch.cat([weak_l, weak_u, strong_u])))
        return logits.split([len(weak_l), len(weak_u), len(weak_u)])

    def step_outputs(
        self,
        logits_l: torch.Tensor,
        supervised: torch.Tensor,
        unlabeled: torch.Tensor,
        mask_rate: torch.Tensor,
        extra_loss: torch.Tensor | None = None,
        **metrics: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """What ``forward`` returns: ``loss = supervised + lambda_u * unlabeled (+ extra_loss)``, the two terms
        detached as ``loss_x`` and ``loss_u``, ``mask_rate``, any ``metrics``, and the labeled logits as ``output``.
        """
        loss = supervised + self.lambda_u * unlabeled
        if extra_loss is not None:
            loss = loss + extra_loss
        return {
            "loss": loss,
            "loss_x": supervised.detach(),
            "loss_u": unlabeled.detach(),
            "mask_rate": mask_rate,
            **metrics,
            "output": logits_l,
        }

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        logits_l, logits_weak, logits_strong = self.view_logits(batch)
        unlabeled = fixmatch_unlabeled_loss(logits_weak, logits_strong, self.threshold)
        supervised = F.cross_entropy(logits_l.float(), batch.targets)
        return self.step_outputs(logits_l, supervised, unlabeled["loss"], unlabeled["mask"].mean())

"""What ``cutmix`` and ``mixup`` share: λ ~ Beta(α, α) per sample (or one per batch), a partner
drawn from a random permutation of the batch, an apply-probability, and soft targets.

A sample that is not mixed (probability ``1 - p``) keeps λ = 1. λ is kept in float64 so that the
image and target weights are rounded once, from the exact value, as ``timm.data.Mixup`` does.
"""

from __future__ import annotations

from typing import Any

import torch

from .._validate import positive, probability
from .base import BatchAugmentation
from .functional.mixing import check_num_classes, check_smoothing, mix_targets, sample_beta, to_soft_targets

__all__ = ["MixingAugmentation"]


class MixingAugmentation(BatchAugmentation):
    """Base of the ops that mix each sample with a partner from the same batch.

    Args:
        alpha: λ ~ Beta(alpha, alpha); ``alpha > 0``.
        num_classes: K, needed for int class ids ``[B]``; soft ``[B, K]`` targets may omit it.
        label_smoothing: smoothing applied to the targets before mixing (default off).
        per_batch: one λ (and one box) for the whole batch, like timm's ``Mixup(mode="batch")``.
        p: probability that a sample (or the batch, with ``per_batch``) is mixed at all.
    """

    mixes_samples = True
    #: Arguments of the conformance checks (effl_plugins.testing): soft targets need a class count.
    conformance_kwargs = {"num_classes": 10}

    def __init__(
        self,
        alpha: float = 1.0,
        num_classes: int | None = None,
        label_smoothing: float = 0.0,
        per_batch: bool = False,
        p: float = 1.0,
    ):
        super().__init__()
        self.alpha = positive(alpha, "alpha", note="λ ~ Beta(alpha, alpha)")
        self.num_classes = check_num_classes(num_classes)
        self.label_smoothing = check_smoothing(label_smoothing)
        self.per_batch = bool(per_batch)
        self.p = probability(p)

    def _sample_lam_and_partner(self, images: torch.Tensor, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """λ float64 ``[B]`` (1 where not mixed) and the partner permutation int64 ``[B]``."""
        batch, device = images.shape[0], images.device
        draws = 1 if self.per_batch else batch
        where = generator.device if generator is not None else device
        lam = sample_beta(draws, self.alpha, device, generator)
        mixed = (torch.rand(draws, generator=generator, device=where) < self.p).to(device)
        lam = torch.where(mixed, lam, torch.ones_like(lam)).expand(batch).contiguous()
        permutation = torch.randperm(batch, generator=generator, device=where).to(device)
        return lam, permutation

    def _check_permutation(self, params: dict, batch: int) -> torch.Tensor:
        permutation = params.get("permutation")
        if (
            not isinstance(permutation, torch.Tensor)
            or permutation.shape != (batch,)
            or permutation.dtype.is_floating_point
        ):
            raise ValueError(
                f"params['permutation'] must be an int tensor [B] of partner indices with B={batch}, got "
                f"{permutation!r}"
            )
        return permutation.long()

    def _mixed_targets(
        self, targets: Any, batch: int, permutation: torch.Tensor, own_weight: torch.Tensor
    ) -> torch.Tensor:
        soft = to_soft_targets(targets, batch, self.num_classes, self.label_smoothing)
        return mix_targets(soft, permutation, own_weight)

    def forward(self, images, targets=None, *, generator=None, params=None):
        if targets is None:
            raise ValueError(
                f"{type(self).__name__} needs targets (int class ids [B] with num_classes=, or soft targets [B, K]), "
                "got None"
            )
        return super().forward(images, targets, generator=generator, params=params)

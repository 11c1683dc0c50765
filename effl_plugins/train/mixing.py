"""MixUp / CutMix on a training batch with timm's flags (``--mixup --cutmix --cutmix-minmax
--mixup-prob --mixup-switch-prob --mixup-mode``), on batches that may hold unlabeled rows.

timm's meanings: ``mixup`` and ``cutmix`` are the Beta(α, α) concentrations (0 disables one);
with both on, each batch uses CutMix with probability ``mixup_switch_prob``; ``mixup_prob`` is the
probability that a batch (``mode="batch"``) or a sample (``"pair"``/``"elem"``) is mixed;
``cutmix_minmax`` draws the box sides uniformly in ``[min, max]`` of the image side (timm's
``rand_bbox_minmax``). Label smoothing is applied by the criterion.

Unlabeled rows (target ``UNLABELED``) mix like any other image; their label mass is tracked in an
extra column, and a mixed row that holds any of it counts as unlabeled (no cross-entropy; the
teacher, who sees the same mixed image, still teaches it).
"""

from __future__ import annotations

import torch

from ..augment.cutmix import CutMix
from ..augment.mixup import MixUp
from ..data.datasets import UNLABELED
from .config import TrainConfig

__all__ = ["BatchMixing"]


class BatchMixing:
    """``mix(images, targets, generator) -> (images, soft_targets [B, K], labeled [B] bool)``."""

    def __init__(self, config: TrainConfig, num_classes: int):
        self.config, self.num_classes = config, num_classes
        per_batch = config.mixup_mode == "batch"
        width = num_classes + 1  # the extra column carries unlabeled mass
        common = dict(num_classes=width, per_batch=per_batch, p=config.mixup_prob)
        self.mixup = MixUp(alpha=config.mixup, **common) if config.mixup > 0 else None
        cutmix_alpha = 1.0 if config.cutmix_minmax else config.cutmix  # timm: minmax boxes ignore the alpha
        self.cutmix = CutMix(alpha=cutmix_alpha, **common) if cutmix_alpha > 0 else None

    @property
    def enabled(self) -> bool:
        return self.mixup is not None or self.cutmix is not None

    def __call__(self, images: torch.Tensor, targets: torch.Tensor, generator: torch.Generator | None = None):
        column = torch.where(targets == UNLABELED, torch.full_like(targets, self.num_classes), targets)
        op = self._choose(generator)
        if op is self.cutmix and self.config.cutmix_minmax is not None:
            mixed, soft = op(images, column, params=self._minmax_params(images, generator))
        else:
            mixed, soft = op(images, column, generator=generator)
        labeled = soft[:, self.num_classes] == 0
        return mixed, soft[:, : self.num_classes], labeled

    def _choose(self, generator):
        if self.mixup is None or self.cutmix is None:
            return self.mixup or self.cutmix
        draw = torch.rand((), generator=generator, device=generator.device if generator is not None else "cpu")
        return self.cutmix if float(draw) < self.config.mixup_switch_prob else self.mixup

    def _minmax_params(self, images: torch.Tensor, generator) -> dict:
        batch, _, height, width = images.shape
        low, high = self.config.cutmix_minmax
        where = generator.device if generator is not None else images.device
        draws = 1 if self.config.mixup_mode == "batch" else batch
        u = (
            torch.rand(draws, 4, generator=generator, device=where, dtype=torch.float64)
            .expand(batch, 4)
            .to(images.device)
        )
        cut_h = (height * (low + (high - low) * u[:, 0])).long().clamp(1, height)
        cut_w = (width * (low + (high - low) * u[:, 1])).long().clamp(1, width)
        top = (u[:, 2] * (height - cut_h + 1)).long()
        left = (u[:, 3] * (width - cut_w + 1)).long()
        mixed = (
            torch.rand(draws, generator=generator, device=where).expand(batch).to(images.device)
            < self.config.mixup_prob
        )
        box = torch.stack([top, top + cut_h, left, left + cut_w], dim=1) * mixed[:, None]
        permutation = torch.randperm(batch, generator=generator, device=where).to(images.device)
        return {"permutation": permutation, "box": box}

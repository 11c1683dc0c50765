"""timm's augmentation splits (``--aug-splits N``, timm's ``AugMixDataset``; Hendrycks et al. 2020, "AugMix"),
built on the device in timm's collate order, so ``JsdCrossEntropy(num_splits=N)`` splits the logits as timm's."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["augmentation_splits"]


def augmentation_splits(
    images: torch.Tensor,
    targets: torch.Tensor,
    labeled: torch.Tensor,
    augment: Callable | None,
    splits: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``splits`` views of each image, view 0 the image itself, views 1.. ``augment(images)`` drawn in turn.

    Shape:
        images ``[B, C, H, W]``, targets ``[B]`` or ``[B, K]``, labeled ``[B]`` -> ``[N * B, C, H, W]``,
        ``[N * B]`` or ``[N * B, K]``, ``[N * B]``; row ``v * B + i`` is view ``v`` of image ``i``.
    """
    if splits < 2:
        raise ValueError(f"splits must be at least 2 (views of each image, the first clean), got {splits}")
    views = [images]
    for _ in range(splits - 1):
        views.append(augment(images, generator=generator)[0] if augment is not None else images)
    repeat = (splits,) + (1,) * (targets.ndim - 1)
    return torch.cat(views), targets.repeat(*repeat), labeled.repeat(splits)

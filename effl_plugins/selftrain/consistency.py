"""The training loop shared by the consistency methods (FixMatch, Mean Teacher): each step draws a
labeled batch of ``B`` images and an unlabeled batch of ``mu * B``; an epoch is one pass over the
unlabeled set (the labeled loader is cycled). Batches come from seeded loaders, augmentations from
one seeded ``torch.Generator``, so a run is a function of its seed.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import torch

from ..engine import make_loader

__all__ = ["cycle", "weak_augment", "paired_batches"]


def cycle(dataset, batch_size: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled batches; pass ``k`` reshuffles with seed ``seed + k``."""
    epoch = 0
    while True:
        yield from make_loader(dataset, min(batch_size, len(dataset)), shuffle=True, seed=seed + epoch, drop_last=True)
        epoch += 1


def paired_batches(labeled, unlabeled, batch_size: int, mu: int, seed: int) -> tuple[int, Callable[[], tuple]]:
    """``(steps per epoch, next_batch)`` where ``next_batch()`` gives ``(x_l, y_l, x_u)``."""
    labeled_iter = cycle(labeled, batch_size, seed)
    unlabeled_iter = cycle(unlabeled, batch_size * mu, seed + 10_000)
    steps = max(1, math.ceil(len(unlabeled) / (batch_size * mu)))

    def next_batch():
        x_l, y_l = next(labeled_iter)
        x_u, _ = next(unlabeled_iter)
        return x_l, y_l, x_u

    return steps, next_batch


def weak_augment(images: torch.Tensor, generator: torch.Generator | None = None, flip: bool = True,
                 max_shift: float = 0.125) -> torch.Tensor:
    """FixMatch's weak augmentation: a random horizontal flip (p=0.5) and a random translation of up
    to ``max_shift`` of the side (reflection padding), each sample its own, without a Python loop.

    Shape: ``[B, C, H, W]`` uint8 or float -> same dtype and shape; input not modified.
    """
    if not 0.0 <= max_shift < 0.5:
        raise ValueError(f"max_shift must be a fraction of the side in [0, 0.5), got {max_shift!r}")
    batch, channels, height, width = images.shape
    out = images
    if flip:
        flips = torch.rand(batch, generator=generator) < 0.5
        out = torch.where(flips.to(images.device)[:, None, None, None], images.flip(-1), images)
    pad = int(round(max_shift * min(height, width)))
    if pad == 0:
        return out.clone() if out is images else out
    padded = torch.nn.functional.pad(out.float(), (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(images.device)
    rows = (dy[:, None] + torch.arange(height, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, None, :]
    b = torch.arange(batch, device=images.device)[:, None, None, None]
    c = torch.arange(channels, device=images.device)[None, :, None, None]
    return padded[b, c, rows, cols].to(images.dtype)

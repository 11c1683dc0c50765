"""The training loop shared by the consistency methods (FixMatch, Mean Teacher): each step draws a
labeled batch of ``B`` images and an unlabeled batch of ``mu * B``; an epoch is one pass over the
unlabeled set (the labeled loader is cycled). Batches come from seeded permutations, augmentations
from one seeded ``torch.Generator``, so a run is a function of its seed.

Resume: after every epoch the run's whole state (weights, optimizer, generator and RNG states, the
history) goes to ``out_dir/checkpoint.pt``, written atomically. The batch streams are a pure
function of ``(seed, batches drawn)``, so a resumed run starts them where the checkpoint left off
without reading the skipped images, and finishes exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..checkpoints import CHECKPOINT_NAME, atomic_save, load_checkpoint, rng_state, set_rng_state
from ..errors import CheckpointError

__all__ = ["cycle", "weak_augment", "paired_batches", "steps_per_epoch", "EpochCheckpoint"]


def _pass_order(size: int, seed: int) -> list[int]:
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed)).tolist()


def cycle(dataset, batch_size: int, seed: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled batches of ``min(batch_size, len(dataset))`` (incomplete ones dropped): pass
    ``k`` visits the permutation ``randperm`` seeded with ``seed + k``. ``start`` skips that many
    batches without loading them."""
    if len(dataset) == 0:
        raise ValueError("cannot draw batches from an empty dataset")
    batch_size = min(batch_size, len(dataset))
    per_pass = len(dataset) // batch_size
    pass_index, skip = divmod(start, per_pass)
    while True:
        order = _pass_order(len(dataset), seed + pass_index)[skip * batch_size:]
        # its own generator, so building a loader never draws from the global RNG
        yield from DataLoader(dataset, batch_size=batch_size, sampler=order, drop_last=True, generator=torch.Generator())
        pass_index, skip = pass_index + 1, 0


def steps_per_epoch(unlabeled, batch_size: int, mu: int) -> int:
    """Steps in one pass over the unlabeled set at ``mu * batch_size`` unlabeled images a step."""
    return max(1, math.ceil(len(unlabeled) / (batch_size * mu)))


def paired_batches(labeled, unlabeled, batch_size: int, mu: int, seed: int, start: int = 0) -> Callable[[], tuple]:
    """``next_batch()`` giving ``(x_l, y_l, x_u)``, both streams beginning after ``start`` steps."""
    labeled_iter = cycle(labeled, batch_size, seed, start)
    unlabeled_iter = cycle(unlabeled, batch_size * mu, seed + 10_000, start)

    def next_batch():
        x_l, y_l = next(labeled_iter)
        x_u, _ = next(unlabeled_iter)
        return x_l, y_l, x_u

    return next_batch


class EpochCheckpoint:
    """``out_dir/checkpoint.pt`` of a consistency run: ``save`` after each epoch, ``restore`` to resume.

    The file holds each model's weights (``"model"`` is the one reported), the optimizer, the
    augmentation generator and every global RNG state, the epochs done and their history, plus any
    extra numbers (Mean Teacher's step count). ``steps_per_epoch`` is checked on restore: a
    checkpoint made with other data, batch size or ``mu`` cannot continue this run.
    """

    def __init__(self, out_dir: str | os.PathLike | None, resume: bool):
        self.path = Path(out_dir) / CHECKPOINT_NAME if out_dir is not None else None
        self.resume = resume

    def save(self, *, models: dict[str, nn.Module], optimizer: torch.optim.Optimizer, generator: torch.Generator,
             epoch: int, history: list[dict], steps_per_epoch: int, **extra: int | float) -> None:
        if self.path is None:
            return
        state = {name: model.state_dict() for name, model in models.items()}
        state.update(optimizer=optimizer.state_dict(), generator=generator.get_state(), rng=rng_state(), epoch=epoch,
                     history=history, steps_per_epoch=steps_per_epoch, **extra)
        atomic_save(state, self.path)

    def restore(self, *, models: dict[str, nn.Module], optimizer: torch.optim.Optimizer, generator: torch.Generator,
                steps_per_epoch: int) -> dict[str, Any] | None:
        """Load the saved state into ``models``, ``optimizer``, ``generator`` and the global RNGs and return
        it (``epoch``, ``history`` and the extras), when resuming from an existing file; else ``None``."""
        if not self.resume or self.path is None or not self.path.is_file():
            return None
        state = load_checkpoint(self.path)
        if state.get("steps_per_epoch") != steps_per_epoch:
            raise CheckpointError(f"checkpoint {str(self.path)!r} was made with {state.get('steps_per_epoch')!r} steps per epoch, "
                                  f"this run has {steps_per_epoch}: the same data, batch_size and mu are needed to resume")
        for name, model in models.items():
            model.load_state_dict(state[name])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        set_rng_state(state["rng"])
        return state


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

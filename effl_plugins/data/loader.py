"""A DataLoader for the streaming datasets: uint8 batches, decode in workers, its own RNG.

A ``torch.Generator`` seeded with ``seed`` drives the shuffle and the worker base seed, so the loader
never draws from the global torch RNG (the model's own random draws stay what they are). The per-item
randomness comes from the dataset, so batches are identical for any number of workers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from .._validate import integer

__all__ = ["create_loader", "collate_uint8"]


def collate_uint8(batch: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[(uint8 [3, H, W], int)] -> (uint8 [B, 3, H, W], int64 [B])``."""
    images = default_collate([item[0] for item in batch])  # in shared memory inside a worker
    return images, torch.tensor([int(item[1]) for item in batch], dtype=torch.int64)


def create_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    sampler: Iterable[int] | torch.utils.data.Sampler | None = None,
    shuffle: bool = False,
    seed: int = 0,
    workers: int = 0,
    pin_memory: bool = False,
    drop_last: bool = False,
    persistent_workers: bool = False,
) -> DataLoader:
    """Batches of ``(uint8 [B, 3, H, W], int64 [B])`` from ``dataset``.

    Args:
        dataset: a map-style dataset of ``(uint8 [3, H, W], int)``.
        batch_size: images per batch (> 0).
        sampler: the indices to draw (a ``Sampler`` or any iterable of ints, e.g. a list); excludes ``shuffle``.
        shuffle: a fresh permutation every pass, from a generator seeded with ``seed``.
        seed: seeds the loader's own ``torch.Generator`` (shuffle, worker base seed).
        workers: DataLoader worker processes (>= 0); images are decoded there.
        pin_memory, drop_last, persistent_workers: as in ``torch.utils.data.DataLoader``
            (``persistent_workers`` needs ``workers > 0``).
    """
    integer(batch_size, "batch_size", low=1)
    integer(workers, "workers", low=0)
    if sampler is not None and shuffle:
        raise ValueError("shuffle=True and a sampler exclude each other (the sampler decides the order)")
    if persistent_workers and workers == 0:
        raise ValueError("persistent_workers=True needs workers > 0, got workers=0")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=shuffle,
        num_workers=workers,
        collate_fn=collate_uint8,
        pin_memory=pin_memory,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(int(seed)),
        persistent_workers=persistent_workers,
    )

"""Batches that are a pure function of ``(seed, stream, pass, rank)``: exact resume, any worker count.

A *stream* draws batches from one dataset, pass after pass; pass ``p`` visits a permutation seeded by
``(seed, stream, p)``, padded by wrapping to a multiple of the world size and sharded ``rank::world``
(as ``DistributedSampler`` does). The engine's main stream makes one pass per epoch; a second stream
(FixMatch's labeled batches) cycles beside it. Batch ``g`` is produced without batches ``0..g-1``, so a
resumed run skips what was done without reading an image. Each index is handed to the dataset as
``(index, pass)`` (:class:`KeyedDataset`), so an image's random crop is drawn from ``(seed, pass, index)``.

With ``exactly_once`` (sharded datasets) the permutation is dealt ``rank::world`` without padding, so no
sample is read twice in a pass; every rank takes as many batches as the rank holding the fewest samples,
``q = length // world``, its last batch taking what is left of its share (2 to ``batch_size + 2`` images),
or with ``drop_last`` ``q // batch_size`` full batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset, Subset

__all__ = ["Stream", "KeyedDataset", "exactly_once", "set_epoch", "MAIN_STREAM", "LABELED_STREAM"]

#: Stream ids: the epoch-defining stream and the labeled stream cycled beside it.
MAIN_STREAM, LABELED_STREAM = 0, 1


def _permutation(length: int, seed: int, stream: int, pass_index: int, shuffle: bool) -> torch.Tensor:
    if not shuffle:
        return torch.arange(length)
    key = int(np.random.SeedSequence([seed, stream, pass_index]).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.randperm(length, generator=torch.Generator().manual_seed(key))


class Stream:
    """Batches of ``batch_size`` from a dataset of ``length`` items for one rank of ``world_size``; with
    ``drop_last`` only full ones, else a last partial batch unless of a single image (BatchNorm takes none)."""

    def __init__(
        self,
        length: int,
        batch_size: int,
        *,
        seed: int,
        stream: int = MAIN_STREAM,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        drop_last: bool = False,
        exactly_once: bool = False,
    ):
        if length < 1:
            raise ValueError("cannot draw batches from an empty dataset")
        self.length, self.seed, self.stream, self.shuffle = length, seed, stream, shuffle
        self.drop_last = drop_last
        self.rank, self.world_size, self.exactly_once = rank, world_size, exactly_once
        per_rank = max(length // world_size, 1) if exactly_once else -(-length // world_size)
        self.batch_size = min(batch_size, per_rank) if drop_last else batch_size
        full, rest = divmod(per_rank, self.batch_size)
        whole_batches_only = drop_last or rest == 1
        self.per_pass = full if whole_batches_only else full + (rest > 0)
        self.per_rank = full * self.batch_size if whole_batches_only else per_rank
        if exactly_once and not drop_last:
            self.per_pass = full + (rest >= 2)
        if self.per_pass < 1:
            raise ValueError(
                f"a dataset of {length} images cannot make a training batch of >= 2 on each of {world_size} ranks"
            )

    def shard(self, pass_index: int) -> torch.Tensor:
        order = _permutation(self.length, self.seed, self.stream, pass_index, self.shuffle)
        if self.exactly_once:
            mine = order[self.rank :: self.world_size]
            return mine[: self.per_pass * self.batch_size] if self.drop_last else mine
        total = -(-self.length // self.world_size) * self.world_size
        padded = order.repeat(-(-total // self.length))[:total]
        return padded[self.rank :: self.world_size][: self.per_rank]

    def batches(self, start: int, count: int | None = None) -> Iterator[list[tuple[int, int]]]:
        """Batches number ``start, start + 1, ...`` (``count`` of them, or endless) as ``(index, pass)`` lists."""
        pass_index, offset = divmod(start, self.per_pass)
        produced = 0
        while count is None or produced < count:
            shard = self.shard(pass_index).tolist()
            for b in range(offset, self.per_pass):
                if count is not None and produced >= count:
                    return
                end = len(shard) if b == self.per_pass - 1 and self.exactly_once else (b + 1) * self.batch_size
                yield [(i, pass_index) for i in shard[b * self.batch_size : end]]
                produced += 1
            pass_index, offset = pass_index + 1, 0


def exactly_once(dataset: Dataset) -> bool:
    """Whether ``dataset`` (or every dataset it is made of) asks to be dealt to ranks without padding."""
    if isinstance(dataset, ConcatDataset):
        return all(exactly_once(part) for part in dataset.datasets)
    if isinstance(dataset, Subset):
        return exactly_once(dataset.dataset)
    return bool(getattr(dataset, "exactly_once", False))


def set_epoch(dataset: Dataset, epoch: int) -> None:
    """Set the augmentation epoch of ``dataset`` and of the datasets it is made of."""
    if isinstance(dataset, ConcatDataset):
        for part in dataset.datasets:
            set_epoch(part, epoch)
    elif isinstance(dataset, Subset):
        set_epoch(dataset.dataset, epoch)
    elif hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)


class KeyedDataset(Dataset):
    """``dataset[(index, pass)]``: the item ``index`` with its random transform drawn for ``pass``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int] | int):
        index, pass_index = key if isinstance(key, tuple) else (key, 0)
        set_epoch(self.dataset, pass_index)
        return self.dataset[index]


class BatchList:
    """A batch sampler over precomputed batches (what ``DataLoader(batch_sampler=...)`` needs)."""

    def __init__(self, batches: Sequence[list]):
        self.batches = list(batches)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

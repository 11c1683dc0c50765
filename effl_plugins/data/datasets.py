"""The dataset every split is: a source of images, their targets and ids, and one transform.

``dataset[i]`` reads and decodes image ``i`` (in the DataLoader worker that asks for it), runs the
transform and returns ``(uint8 tensor [3, H, W], int target)``. A random (train) transform draws
from ``np.random.default_rng((seed, epoch, i))``: item ``i`` of epoch ``e`` is the same crop however
many workers load it and whichever order they do, and a resumed epoch redraws the same crops.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["StreamImageDataset", "UNLABELED", "pair_splits"]

#: The target of an unlabeled image.
UNLABELED = -1


class StreamImageDataset(Dataset):
    """Images streamed from ``source`` through ``transform``.

    Args:
        source: ``len(source)`` and ``source.load(i) -> H x W x 3`` uint8 RGB (see ``sources``).
        targets: one int per image, :data:`UNLABELED` (-1) where unlabeled.
        ids: one stable string per image (a path relative to the root, ``"digits-0001"``).
        transform: ``t(img, rng)`` when ``transform.random`` is true (train), else ``t(img)`` (eval);
            returns a uint8 tensor ``[3, H, W]``.
        seed: the run's seed for the per-item generators.
        classes: class names by id, where known.
        skipped: ``(path, reason)`` for every file the listing left out.

    Attributes:
        targets: int64 tensor ``[N]``. ``ids``, ``classes``, ``skipped``, ``seed``, ``epoch`` as given.
    """

    def __init__(
        self,
        source: Any,
        targets: Sequence[int] | torch.Tensor,
        ids: Sequence[str],
        transform: Callable,
        *,
        seed: int = 0,
        classes: Sequence[str] | None = None,
        skipped: Sequence[tuple[str, str]] = (),
    ):
        n = len(source)
        self.source = source
        self.targets = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
        self.ids = list(ids)
        if self.targets.numel() != n or len(self.ids) != n:
            raise ValueError(f"source has {n} images but {self.targets.numel()} targets and {len(self.ids)} ids")
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.transform = transform
        self.seed = _nonnegative_int("seed", seed)
        self.epoch = 0
        self.classes = list(classes) if classes is not None else None
        self.skipped = list(skipped)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def exactly_once(self) -> bool:
        """Whether the engine deals this dataset to ranks without padding (see ``train.streams``)."""
        return bool(getattr(self.source, "exactly_once", False))

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose per-item randomness ``__getitem__`` draws."""
        self.epoch = _nonnegative_int("epoch", epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The generator item ``index`` draws from in the current epoch."""
        return np.random.default_rng((self.seed, self.epoch, index))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        index = int(index)
        if not 0 <= index < len(self.ids):
            raise IndexError(f"index {index} out of range for a dataset of {len(self.ids)} images")
        img = self.source.load(index)
        if getattr(self.transform, "random", False):
            out = self.transform(img, self.rng(index))
        else:
            out = self.transform(img)
        return out, int(self.targets[index])

    def with_transform(self, transform: Callable) -> StreamImageDataset:
        """The same images (shared source, targets and ids) through another transform."""
        clone = copy.copy(self)
        clone.transform = transform
        return clone

    def subset(self, indices: Sequence[int] | torch.Tensor) -> StreamImageDataset:
        """The images at ``indices``, in that order (item ``k`` of the subset draws with index ``k``)."""
        index = torch.as_tensor(indices, dtype=torch.long).reshape(-1).tolist()
        clone = copy.copy(self)
        clone.source = self.source.subset(index)
        clone.targets = self.targets[index]
        clone.ids = [self.ids[i] for i in index]
        return clone

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(n={len(self)}, classes={len(self.classes) if self.classes else None}, "
            f"transform={self.transform!r}, seed={self.seed}, epoch={self.epoch})"
        )


def _nonnegative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__") or int(value) < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def pair_splits(
    train: StreamImageDataset, val: StreamImageDataset, val_holds: str
) -> tuple[StreamImageDataset, StreamImageDataset]:
    """``train`` and ``val`` given one class list: the train split's class names where they name every class id
    up to its largest, else the ids' numbers ``"0" .. "max"``. A val class id the train split lacks is refused
    with a ValueError, ``val_holds`` naming the val split as its source spells it (``"--val-split ... holds"``)."""
    unknown = sorted(set(val.targets.tolist()) - set(train.targets.tolist()))
    if unknown:
        raise ValueError(f"{val_holds} class ids the train split lacks: {unknown[:10]}")
    count = max(len(train.classes or []), int(train.targets.max()) + 1)
    classes = train.classes if train.classes and len(train.classes) == count else [str(c) for c in range(count)]
    train.classes = val.classes = classes
    return train, val

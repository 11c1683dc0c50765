"""Probability-target datasets: a student's training set where every target is a probability vector ``[K]``
(one-hot for labeled images, the teacher's hard or soft labels for pseudo-labeled ones), so one cross-entropy
trains on both.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, Dataset

__all__ = ["ProbabilityTargets", "one_hot_rows", "labeled_plus_pseudo"]


class ProbabilityTargets(Dataset):
    """Images of ``dataset`` (at ``indices``, repeats allowed) with probability targets ``[N, K]``.

    Items are ``(image, targets[k])``; the image keeps the dataset's transform and per-item randomness.
    """

    def __init__(self, dataset: Dataset, targets: torch.Tensor, indices: Sequence[int] | None = None):
        self.dataset = dataset
        self.indices = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
        if targets.ndim != 2 or targets.shape[0] != len(self.indices):
            raise ValueError(f"targets must be [N={len(self.indices)}, K], got {tuple(targets.shape)}")
        self.targets = targets.float()

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __getitem__(self, index: int):
        image, _ = self.dataset[self.indices[index]]
        return image, self.targets[index]


def one_hot_rows(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Shape: ``[N]`` int class ids -> ``[N, num_classes]`` float one-hot rows."""
    return F.one_hot(torch.as_tensor(targets).long(), num_classes).float()


def labeled_plus_pseudo(
    labeled: Dataset, unlabeled: Dataset, chosen: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> ConcatDataset:
    """The labeled set (one-hot rows) followed by the unlabeled images at ``chosen`` with ``targets``."""
    ones = one_hot_rows(torch.as_tensor(labeled.targets), num_classes)
    return ConcatDataset([ProbabilityTargets(labeled, ones), ProbabilityTargets(unlabeled, targets, chosen.tolist())])

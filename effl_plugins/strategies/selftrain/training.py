"""What the self-training strategies share: the unlabeled set they need, probability-target datasets and
teacher identity.

Every target of a student's training set is a probability vector ``[K]``: labeled images carry
one-hot rows, pseudo-labeled ones the teacher's hard (one-hot) or soft labels, so one cross-entropy
(``F.cross_entropy`` with probability targets) trains on both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset, Dataset

from ...models import parse_model_spec
from ...train.checkpoints import atomic_write_bytes
from .store import file_hash, state_dict_hash

__all__ = [
    "ProbabilityTargets",
    "one_hot_rows",
    "labeled_plus_pseudo",
    "model_hash",
    "save_weights",
    "require_unlabeled",
]


def require_unlabeled(strategy: str, data) -> None:
    """``ValueError`` naming ``strategy`` and the data when the DataBundle ``data`` has no unlabeled images."""
    if data.unlabeled is None or len(data.unlabeled) == 0:
        raise ValueError(f"strategy {strategy!r} needs unlabeled images: data {data.name!r} has none")


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


def model_hash(spec: str, model: nn.Module) -> str:
    """sha256 of the checkpoint file named by ``spec``, else of the model's state dict."""
    _, path = parse_model_spec(spec)
    return file_hash(path) if path is not None else state_dict_hash(model)


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """The model's state dict as safetensors (loadable by ``create_model("NAME:PATH", ...)``), atomically."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}))
    return path

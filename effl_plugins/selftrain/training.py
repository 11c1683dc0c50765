"""What the self-training strategies share: soft-target datasets, noisy students, teacher loading.

Every target here is a probability vector ``[K]``: labeled images carry one-hot rows, pseudo-labeled
ones the teacher's hard (one-hot) or soft labels, so one cross-entropy (``F.cross_entropy`` with
probability targets) trains on both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..engine import TrainConfig, fit, seed_everything
from ..models import create_model, parse_model_spec
from .store import file_hash, state_dict_hash

__all__ = ["SoftLabelDataset", "one_hot_rows", "labeled_plus_pseudo", "noise_augmentation", "build_model",
           "train_supervised", "model_hash", "save_weights"]


class SoftLabelDataset(Dataset):
    """uint8 images ``[N, C, H, W]`` with probability targets ``[N, K]`` (rows sum to 1)."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor):
        if images.shape[0] != targets.shape[0] or targets.ndim != 2:
            raise ValueError(f"targets must be [N={images.shape[0]}, K], got {tuple(targets.shape)}")
        self.images, self.targets = images, targets.float()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]


def one_hot_rows(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Shape: ``[N]`` int class ids -> ``[N, num_classes]`` float one-hot rows."""
    return F.one_hot(targets.long(), num_classes).float()


def labeled_plus_pseudo(labeled, images: torch.Tensor, targets: torch.Tensor, num_classes: int) -> SoftLabelDataset:
    """The labeled set (one-hot) followed by pseudo-labeled ``images`` with probability ``targets``."""
    return SoftLabelDataset(torch.cat([labeled.images, images]), torch.cat([one_hot_rows(labeled.targets, num_classes), targets]))


def noise_augmentation(num_ops: int = 2, magnitude: float = 15.0) -> nn.Module:
    """Noisy Student's input noise: ``rand_augment`` (N ops at magnitude M) where registered, else ``brightness``."""
    import effl_plugins as ep

    if "rand_augment" in ep.list_augmentations(backend="batch"):
        return ep.create_augmentation("rand_augment", num_ops=num_ops, magnitude=magnitude)
    return ep.create_augmentation("brightness")


def build_model(spec: str, num_classes: int, seed: int, drop_rate: float = 0.0, drop_path_rate: float = 0.0) -> nn.Module:
    """A timm model from ``NAME[:CKPT]``, initialised under ``seed``, with dropout / stochastic depth."""
    for name, value in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    seed_everything(seed)
    kwargs = {k: v for k, v in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)) if v}
    return create_model(spec, num_classes, **kwargs)


def model_hash(spec: str, model: nn.Module) -> str:
    """sha256 of the checkpoint file named by ``spec``, else of the model's state dict."""
    _, path = parse_model_spec(spec)
    return file_hash(path) if path is not None else state_dict_hash(model)


def train_supervised(model: nn.Module, train_set: Dataset, test_set: Dataset, config: TrainConfig,
                     out_dir: str | os.PathLike | None = None, augment: nn.Module | None = None) -> dict[str, Any]:
    """AdamW + cross-entropy (hard or probability targets) for ``config.epochs``; the ``fit`` summary.

    BatchNorm cannot train on a batch of one image: when the set would end in such a batch, its
    last image is left out.
    """
    if len(train_set) % config.batch_size == 1 and len(train_set) > 1:
        train_set = torch.utils.data.Subset(train_set, range(len(train_set) - 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return fit(model, train_set, test_set, optimizer, config, out_dir, augment)


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """The model's state dict as safetensors (loadable by ``create_model("NAME:PATH", ...)``), atomically."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}))
    os.replace(tmp, path)
    return path

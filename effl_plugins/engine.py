"""The train/eval loop: plain PyTorch, uint8 batches normalised on the device, JSON-lines metrics."""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

__all__ = ["TrainConfig", "normalize", "seed_everything", "make_loader", "evaluate", "train_epoch", "fit", "atomic_write_text"]


@dataclass
class TrainConfig:
    """Hyper-parameters every strategy shares."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` (0..255) or float (0..1) -> float32 in [-1, 1]."""
    scale = 1 / 127.5 if images.dtype == torch.uint8 else 2.0
    return images.float() * scale - 1.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0, drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffling order is a function of ``seed`` alone."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, device: str | torch.device = "cpu", batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on a labeled dataset (model left in eval mode)."""
    model.eval()
    correct = total = 0
    for images, targets in make_loader(dataset, batch_size, shuffle=False):
        logits = model(normalize(images.to(device)))
        correct += int((logits.argmax(-1).cpu() == targets).sum())
        total += len(targets)
    return correct / max(total, 1)


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: str | torch.device = "cpu",
    augment: Callable | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> float:
    """One pass over ``loader``; returns the mean training loss."""
    model.train()
    total, count = 0.0, 0
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        if augment is not None:
            images, targets = augment(images, targets)
        loss = loss_fn(model(normalize(images)), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(images)
        count += len(images)
    return total / max(count, 1)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fit(
    model: nn.Module,
    train_set: Dataset,
    test_set: Dataset,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    out_dir: str | os.PathLike | None = None,
    augment: Callable | None = None,
) -> dict[str, Any]:
    """Train for ``config.epochs``, evaluating after each; returns (and writes) the summary.

    ``out_dir`` receives ``metrics.jsonl`` (one JSON object per epoch) and ``summary.json``
    ``{"best_accuracy", "final_accuracy", "epochs", ...}``.
    """
    seed_everything(config.seed)
    model.to(config.device)
    loader = make_loader(train_set, config.batch_size, shuffle=True, seed=config.seed)
    history = []
    for epoch in range(config.epochs):
        start = time.perf_counter()
        loss = train_epoch(model, loader, optimizer, config.device, augment)
        accuracy = evaluate(model, test_set, config.device)
        history.append({"epoch": epoch + 1, "train_loss": loss, "accuracy": accuracy, "seconds": time.perf_counter() - start})
    summary = {
        "best_accuracy": max(h["accuracy"] for h in history),
        "final_accuracy": history[-1]["accuracy"],
        "epochs": config.epochs,
        "config": asdict(config),
    }
    if out_dir is not None:
        out = Path(out_dir)
        atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary

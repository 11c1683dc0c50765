"""Top-1 / top-5 accuracy and loss of a model on a labeled dataset, sharded over ranks."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.datasets import UNLABELED
from .distributed import DistInfo, all_sum, distributed_info
from .inputs import ModelInput

__all__ = ["evaluate", "autocast"]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op context for None."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    model_input: ModelInput,
    device: str | torch.device = "cpu",
    *,
    batch_size: int = 256,
    workers: int = 0,
    distributed: bool = False,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """``{"top1", "top5", "loss", "count"}`` of ``model`` (left in eval mode) on ``dataset``'s labeled rows;
    with ``distributed=True`` each rank scores every ``world_size``-th image and the sums are all-reduced."""
    model.eval()
    device = torch.device(device)
    model_input = model_input.to(device)
    info = distributed_info() if distributed else DistInfo()
    indices = list(range(info.rank, len(dataset), info.world_size))
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=indices, num_workers=workers, generator=torch.Generator()
    )
    sums = [0.0, 0.0, 0.0, 0.0]  # correct@1, correct@5, loss sum, count
    for images, targets in loader:
        images, targets = images.to(device, non_blocking=True), targets.to(device)
        keep = targets != UNLABELED
        if not bool(keep.any()):
            continue
        with autocast(device, amp_dtype):
            logits = model(model_input(images[keep])).float()
        targets = targets[keep]
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        sums[0] += float((top[:, 0] == targets).sum())
        sums[1] += float((top == targets[:, None]).any(dim=1).sum())
        sums[2] += float(F.cross_entropy(logits, targets, reduction="sum"))
        sums[3] += float(len(targets))
    correct1, correct5, loss, count = all_sum(sums, info, device)
    count_or_one = max(count, 1.0)
    return {
        "top1": correct1 / count_or_one,
        "top5": correct5 / count_or_one,
        "loss": loss / count_or_one,
        "count": int(count),
    }

"""Images held in memory as one uint8 tensor: a dataset with exact pixels and no decoding, for tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from effl_plugins.data import UNLABELED


class TensorImageDataset(Dataset):
    """``images`` uint8 ``[N, C, H, W]`` with int ``targets`` ``[N]`` (default: all :data:`UNLABELED`) and one
    string id per image (default ``"000000"``, ``"000001"``, ...)."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor | None = None, ids: Sequence[str] | None = None):
        count = images.shape[0]
        self.images = images
        self.targets = torch.full((count,), UNLABELED, dtype=torch.long) if targets is None else targets.long()
        self.ids = list(ids) if ids is not None else [f"{i:06d}" for i in range(count)]
        assert images.dtype == torch.uint8 and images.ndim == 4 and self.targets.shape == (count,)
        assert len(self.ids) == count

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.targets[index])

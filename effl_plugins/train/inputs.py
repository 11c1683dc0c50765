"""From the loader's uint8 batch (at the student's size) to what one model expects: its size, mean and std
(a teacher of another resolution gets the batch resized on the device, as ``timm.task``'s does)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ModelInput"]


class ModelInput(nn.Module):
    """uint8 (0..255) or float (0..1) ``[B, C, H, W]`` -> float32 ``(x / 255 - mean) / std`` at ``size``.

    Args:
        mean, std: per-channel values on the 0..1 scale (a timm data config's).
        size: ``(H, W)`` the model takes; None keeps the batch's size.
        interpolation: how a batch of another size is resized (bilinear, bicubic or nearest).
        channels_last: return the result in ``torch.channels_last`` memory format.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        size: Sequence[int] | None = None,
        interpolation: str = "bilinear",
        channels_last: bool = False,
    ):
        super().__init__()
        mean_t = torch.tensor([float(m) for m in mean], dtype=torch.float32).view(1, -1, 1, 1)
        std_t = torch.tensor([float(s) for s in std], dtype=torch.float32).view(1, -1, 1, 1)
        if (std_t <= 0).any():
            raise ValueError(f"std must be > 0 for every channel, got {tuple(std)}")
        self.register_buffer("scale", 1.0 / (255.0 * std_t), persistent=False)
        self.register_buffer("shift", mean_t / std_t, persistent=False)
        self.size = tuple(int(s) for s in size) if size is not None else None
        self.mode = interpolation if interpolation in ("bilinear", "bicubic", "nearest") else "bilinear"
        self.channels_last = channels_last

    @classmethod
    def from_config(cls, config: Any, channels_last: bool = False) -> ModelInput:
        """From a data config (``DataConfig`` or timm's dict with input_size, mean, std, interpolation)."""
        get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
        return cls(
            get("mean"), get("std"), tuple(get("input_size"))[-2:], get("interpolation", "bilinear"), channels_last
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() if images.dtype == torch.uint8 else images.float() * 255.0
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            align = False if self.mode in ("bilinear", "bicubic") else None
            x = F.interpolate(x, size=self.size, mode=self.mode, align_corners=align, antialias=self.mode != "nearest")
        x = x * self.scale - self.shift
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

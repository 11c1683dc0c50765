"""Attention-based fusion (ABF) of knowledge review (Chen, Liu, Zhao & Jia CVPR 2021, "Distilling
Knowledge via Knowledge Review"); the loss is ``review_kd.py``.

At one level: ``x = BN(conv1x1(f_s))`` to ``mid_channels``; below the deepest level the deeper fused
map ``r`` is resized (nearest) to ``x``'s size and mixed by two spatial attention maps,
``a = sigmoid(conv1x1([x, r]))`` and ``x = x * a_0 + r * a_1``; ``x`` is resized (nearest) to the
teacher's ``H x W``, the output is ``BN(conv3x3(x))`` at the teacher's width, and ``x`` goes on to
the next (shallower) level. Convolutions start from Kaiming-uniform weights (``a = 1``) as in the
authors' code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AttentionFusion"]


class AttentionFusion(nn.Module):
    """ABF: one student level, optionally fused with the deeper level's ``residual``; ``(output, residual)``."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, fuse: bool):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.BatchNorm2d(mid_channels))
        self.output = nn.Sequential(
            nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.attention = nn.Sequential(nn.Conv2d(2 * mid_channels, 2, 1), nn.Sigmoid()) if fuse else None
        for conv in (self.reduce[0], self.output[0]):
            nn.init.kaiming_uniform_(conv.weight, a=1)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None, size) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.reduce(x)
        if self.attention is not None and residual is not None:
            residual = F.interpolate(residual, size=x.shape[-2:], mode="nearest")
            weights = self.attention(torch.cat([x, residual], 1))
            x = x * weights[:, :1] + residual * weights[:, 1:]
        if x.shape[-2:] != tuple(size):
            x = F.interpolate(x, size=tuple(size), mode="nearest")
        return self.output(x), x

"""The torch affine warp: the reference that every fast path equals bit for bit and falls back to. Its
convention is :func:`effl_plugins.augment.functional.warp.warp_affine`'s, the public entry point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..._validate import choice

__all__ = [
    "INTERPOLATIONS",
    "check_interpolation",
    "invert_affine",
    "fill_tensor",
    "source_coordinates",
    "gather_pixels",
    "bilinear_gather",
    "warp_affine_torch",
]

INTERPOLATIONS = ("nearest", "bilinear")


def check_interpolation(interpolation: Any) -> str:
    return choice(interpolation, "interpolation", INTERPOLATIONS)


def invert_affine(matrices: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of ``[B, 2, 3]`` or ``[B, 3, 3]`` affine matrices -> ``[B, 2, 3]``."""
    work = torch.float64 if matrices.device.type in ("cpu", "cuda") else torch.float32
    m = matrices[:, :2, :].to(work)
    a, b, tx, c, d, ty = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2], m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    rows = [ia, ib, -(ia * tx + ib * ty), ic, id_, -(ic * tx + id_ * ty)]
    return torch.stack(rows, -1).view(-1, 2, 3).to(torch.float32)


def fill_tensor(fill, images: torch.Tensor) -> torch.Tensor:
    """``fill`` (a number, one per channel, or a tensor) as ``[1, C or 1, 1, 1]`` in the images' dtype and device."""
    if isinstance(fill, torch.Tensor):  # already on the device: no host-to-device copy
        values = fill.to(images.device, torch.float32).reshape(-1)
    else:
        values = torch.as_tensor(
            fill if isinstance(fill, (list, tuple)) else [fill], dtype=torch.float32, device=images.device
        )
    if values.numel() not in (1, images.shape[1]):
        raise ValueError(f"fill has {values.numel()} values but the images have {images.shape[1]} channels")
    if images.dtype == torch.uint8:
        values = values.round().clamp(0, 255)
    return values.to(images.dtype).view(1, -1, 1, 1)


def source_coordinates(inverse: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each output pixel centre reads the input: ``(src_x, src_y)``, float32 ``[B, height, width]`` each.

    Shape:
        inverse ``[B, 2, 3]`` (output -> input maps).
    """
    inverse = inverse.unsqueeze(-1).unsqueeze(-1)  # [B, 2, 3, 1, 1]
    xs = torch.arange(width, dtype=torch.float32, device=inverse.device).view(1, 1, width)
    ys = torch.arange(height, dtype=torch.float32, device=inverse.device).view(1, height, 1)
    src_x = (inverse[:, 0, 0] * xs + inverse[:, 0, 1] * ys).add_(inverse[:, 0, 2])
    src_y = (inverse[:, 1, 0] * xs + inverse[:, 1, 1] * ys).add_(inverse[:, 1, 2])
    return src_x, src_y


def gather_pixels(images: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """``images[b, :, iy, ix]`` for integer-valued float coordinates ``[B, h, w]``; ``fill`` outside."""
    batch, channels, height, width = images.shape
    inside = (ix >= 0) & (ix <= width - 1) & (iy >= 0) & (iy <= height - 1)
    flat = torch.where(inside, iy * width + ix, 0).long()  # non-finite coordinates read as outside
    index = flat.view(batch, 1, -1).expand(batch, channels, -1)
    values = images.reshape(batch, channels, height * width).gather(2, index).view(batch, channels, *ix.shape[1:])
    return torch.where(inside.unsqueeze(1), values, fill)


def bilinear_gather(images: torch.Tensor, src_x: torch.Tensor, src_y: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``images`` at float coordinates ``[B, h, w]``; ``fill`` beyond the border."""
    x0, y0 = torch.floor(src_x), torch.floor(src_y)
    wx, wy = (src_x - x0).unsqueeze(1), (src_y - y0).unsqueeze(1)

    def at(x, y):
        return gather_pixels(images, x, y, fill).to(torch.float32)

    top = at(x0, y0) * (1 - wx) + at(x0 + 1, y0) * wx
    bottom = at(x0, y0 + 1) * (1 - wx) + at(x0 + 1, y0 + 1) * wx
    out = top * (1 - wy) + bottom * wy
    if images.dtype == torch.uint8:
        return out.round_().clamp_(0, 255).to(torch.uint8)
    return out.to(images.dtype)


def warp_affine_torch(
    images: torch.Tensor,
    matrices: torch.Tensor,
    interpolation: str = "nearest",
    fill: float | Sequence[float] = 0,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Warp each image of a batch by its own forward affine matrix, with one gather per neighbour.

    Shape:
        images ``[B, C, H, W]`` uint8 or floating, matrices ``[B, 2, 3]`` or ``[B, 3, 3]`` -> ``[B, C, *size]``,
        same dtype and device.
    """
    check_interpolation(interpolation)
    height, width = images.shape[-2:]
    out_h, out_w = size if size is not None else (height, width)
    src_x, src_y = source_coordinates(invert_affine(matrices.to(images.device)), out_h, out_w)
    fill_value = fill_tensor(fill, images)
    if interpolation == "nearest":
        return gather_pixels(images, torch.floor(src_x + 0.5), torch.floor(src_y + 0.5), fill_value)
    return bilinear_gather(images, src_x, src_y, fill_value)

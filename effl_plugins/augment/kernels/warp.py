"""One warp kernel for all geometry: each sample's composed affine matrix, uint8 in, uint8 out, with the
contract of :func:`effl_plugins.augment.functional.warp.warp_affine`."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..._triton import use_triton
from .affine import check_interpolation, fill_tensor, invert_affine
from .affine import warp_affine_torch as warp_affine

__all__ = ["warp_affine_fused"]


def warp_affine_fused(
    images: torch.Tensor,
    matrices: torch.Tensor,
    interpolation: str = "nearest",
    fill: float | Sequence[float] = 0,
    size: tuple[int, int] | None = None,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """Warp each uint8 image by its own forward affine matrix in one kernel launch.

    Args:
        images: ``[B, C, H, W]`` uint8 (other dtypes run the torch reference).
        matrices: ``[B, 2, 3]`` or ``[B, 3, 3]`` forward maps (input -> output pixel coordinates).
        interpolation: ``"nearest"`` or ``"bilinear"``.
        fill: value outside the input (a number or one per channel), 0..255.
        size: output ``(height, width)``, the input size by default.
        backend: ``"auto"`` (Triton for CUDA uint8 when available), ``"triton"`` or ``"torch"``.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, *size]``, same dtype and device.
    """
    check_interpolation(interpolation)
    if (
        not isinstance(matrices, torch.Tensor)
        or matrices.ndim != 3
        or matrices.shape[1:] not in ((2, 3), (3, 3))
        or matrices.shape[0] != images.shape[0]
    ):
        shape = tuple(matrices.shape) if isinstance(matrices, torch.Tensor) else type(matrices).__name__
        raise ValueError(f"matrices must be [B={images.shape[0]}, 2, 3] or [B, 3, 3], got {shape}")
    if images.dtype != torch.uint8 or not use_triton(images, backend):
        return warp_affine(images, matrices, interpolation, fill, size)
    from . import _triton_kernels as kernels

    batch, channels, height, width = images.shape
    out_h, out_w = size if size is not None else (height, width)
    inverse = invert_affine(matrices.to(images.device)).reshape(batch, 6).contiguous()
    fills = fill_tensor(fill, images).reshape(-1).expand(channels).contiguous()
    out = torch.empty((batch, channels, out_h, out_w), dtype=torch.uint8, device=images.device)
    block = 256
    kernels.warp_kernel[(batch, -(-out_h * out_w // block))](
        images.contiguous(),
        inverse,
        fills,
        out,
        channels,
        height,
        width,
        out_h,
        out_w,
        FLAGGED=False,
        BILINEAR=interpolation == "bilinear",
        IS_UINT8=True,
        BLOCK=block,
        enable_fp_fusion=False,
    )
    return out

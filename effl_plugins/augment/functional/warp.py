"""The affine warp of every geometric augmentation: :func:`warp_affine` for a batch, :func:`warp_affine_image`
for one image.

``warp_affine(images, matrices)`` resamples a whole ``[B, C, H, W]`` batch, each sample through its
own matrix, with no Python loop over samples. Matrices are FORWARD maps (input pixel -> output pixel,
the ``M`` of ``cv2.warpAffine`` and ``cv2.getAffineTransform``) in pixel-centre coordinates (pixel
``(i, j)`` sits at ``x = j, y = i``); see :mod:`.matrices`. The warp inverts them once and reads the input
at the inverse image of every output pixel centre:

- ``"nearest"``: the pixel at ``floor(coordinate + 0.5)`` (OpenCV's rounding), an exact integer
  gather: uint8 stays uint8 and never goes through float;
- ``"bilinear"``: the four neighbours blended in float32; uint8 input comes back rounded to uint8.

Pixels read from outside the input take ``fill`` (in the image's own units: 0..255 for uint8,
0..1 for float; a number or one value per channel), like ``cv2.BORDER_CONSTANT``. Every fast path
(:mod:`effl_plugins.augment.kernels`) equals the torch reference bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from ..._triton import BACKENDS
from ..._validate import choice, is_number
from ..kernels.affine import (
    INTERPOLATIONS,
    bilinear_gather,
    check_interpolation,
    fill_tensor,
    gather_pixels,
    invert_affine,
    warp_affine_torch,
)
from ..kernels.warp import warp_affine_fused

__all__ = [
    "INTERPOLATIONS",
    "warp_affine",
    "warp_affine_image",
    "invert_affine",
    "check_interpolation",
    "check_fill",
    "gather_pixels",
    "bilinear_gather",
    "fill_tensor",
]

_CV2_FLAGS = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}


def check_fill(fill: Any) -> float | tuple[float, ...]:
    """A fill value: one number or one number per channel (1 or 3), in the image's units."""
    values = fill if isinstance(fill, (list, tuple)) else [fill]
    if len(values) not in (1, 3) or not all(is_number(v) for v in values):
        raise ValueError(f"fill must be a number or a sequence of 1 or 3 numbers, got {fill!r}")
    return float(values[0]) if len(values) == 1 else tuple(float(v) for v in values)


def warp_affine(
    images: torch.Tensor,
    matrices: torch.Tensor,
    interpolation: str = "nearest",
    fill: float | Sequence[float] = 0,
    size: tuple[int, int] | None = None,
    *,
    backend: str = "torch",
) -> torch.Tensor:
    """Warp each image of a batch by its own forward affine matrix.

    Args:
        images: ``[B, C, H, W]`` uint8 or floating.
        matrices: ``[B, 2, 3]`` or ``[B, 3, 3]`` forward maps (input -> output pixel coordinates).
        interpolation: ``"nearest"`` (exact on uint8) or ``"bilinear"`` (float32 inside, uint8 rounded back).
        fill: value of pixels that come from outside the input, in the image's units.
        size: output ``(height, width)``; the input size by default.
        backend: ``"torch"`` (the reference, any device), ``"auto"`` (the Triton kernel for CUDA uint8 when
            Triton imports, else the reference) or ``"triton"``.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, *size]``, same dtype and device.

    Example:
        >>> from effl_plugins.augment.functional import matrices
        >>> x = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4)
        >>> m = matrices.translation(torch.tensor([1.0]), torch.tensor([0.0]))
        >>> warp_affine(x, m)[0, 0, 0].tolist()
        [0, 0, 1, 2]
    """
    if choice(backend, "backend", BACKENDS) == "torch":
        return warp_affine_torch(images, matrices, interpolation, fill, size)
    return warp_affine_fused(images, matrices, interpolation, fill, size, backend=backend)


def warp_affine_image(
    img: np.ndarray,
    matrix: np.ndarray,
    interpolation: str = "nearest",
    fill: float | Sequence[float] = 0,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """OpenCV twin of :func:`warp_affine` for one ``H x W (x C)`` uint8 image and one forward ``2x3``/``3x3`` matrix."""
    height, width = img.shape[:2]
    out_h, out_w = size if size is not None else (height, width)
    border = tuple(fill) + (0,) * (4 - len(fill)) if isinstance(fill, tuple) else (fill,) * 4
    out = cv2.warpAffine(
        img,
        np.asarray(matrix, dtype=np.float64)[:2],
        (out_w, out_h),
        flags=_CV2_FLAGS[interpolation],
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )
    return out.reshape(out_h, out_w, *img.shape[2:])

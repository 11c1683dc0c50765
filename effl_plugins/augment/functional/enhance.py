"""PIL ``ImageEnhance``-style blends and the greyscale they use: ``out = factor * image + (1 - factor) * degenerate``.

Contrast blends with the mean grey level, color (saturation) with the greyscale image, sharpness
with a smoothed image (torchvision.transforms.v2.functional.adjust_contrast / adjust_saturation /
adjust_sharpness, which follow PIL). factor 1 leaves the image unchanged, 0 gives the degenerate
image, above 1 extrapolates away from it; results clip to the valid range and uint8 results are
truncated, as torchvision does.

Greyscale (ITU-R 601-2 luma, torchvision's weights): ``0.2989 R + 0.587 G + 0.114 B``. On uint8
both backends compute its exact floor, ``(2989 R + 5870 G + 1140 B) // 10000``, so the CPU,
an accelerator and the OpenCV backend agree bit for bit. torchvision's float32 evaluation
differs from that exact floor on 3 of the 16.7 M RGB triples (the luma is an integer and
float32 rounding lands just below it), which is the only source of a difference of 1.

The blend is one fused multiply-add, ``fma(degenerate, 1 - factor, factor * image)``, rounded to
float32 once, because that is what torch's ``add_(other, alpha=...)`` inside torchvision computes
on the CPU; separate rounding of the product changes a truncated uint8 result by 1 at a few pixels
per thousand. NumPy has no fused multiply-add: the image backend evaluates the same expression in
float64, where the product and the sum are exact for uint8 operands, and rounds once to float32.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

__all__ = ["LUMA_WEIGHTS", "LUMA_INT", "luma", "luma_image", "blend", "blend_image"]

LUMA_WEIGHTS = (0.2989, 0.587, 0.114)
#: the luma weights times 10000: uint8 luma is the floor of their weighted sum over 10000
LUMA_INT = (2989, 5870, 1140)
_LUMA_ROW = np.array([LUMA_INT], dtype=np.float32)
_LUMA_WEIGHTS_INT = torch.tensor([LUMA_INT], dtype=torch.float32)


@functools.lru_cache(maxsize=16)
def _luma_weights(device: torch.device) -> torch.Tensor:
    """The integer luma weights ``[1, 3]`` float32 on ``device``, copied there once (read, never written)."""
    return _LUMA_WEIGHTS_INT.to(device)


def luma(images: torch.Tensor) -> torch.Tensor:
    """Greyscale ``[B, 1, H, W]``: float32 floor of the luma for uint8 input, float luma otherwise."""
    if images.shape[1] == 1:
        return images.to(torch.float32) if images.dtype == torch.uint8 else images
    if images.dtype == torch.uint8:
        # The integer weighted sum and every partial sum (< 2**24) are exact in float32 whatever their order, and so
        # is the floor of its quotient by 10000: a non-integer quotient lies at least 1e-4 from an integer.
        batch, _, height, width = images.shape
        weights = _luma_weights(images.device)
        total = torch.matmul(weights, images.reshape(batch, 3, height * width).to(torch.float32))
        return torch.floor(total.div_(10000)).view(batch, 1, height, width)
    # (r * w0 + g * w1) + b * w2, each product and sum rounded as written
    r, g, b = images.unbind(1)
    grey = r * LUMA_WEIGHTS[0]
    term = g * LUMA_WEIGHTS[1]
    grey += term
    torch.mul(b, LUMA_WEIGHTS[2], out=term)
    grey += term
    return grey.unsqueeze(1)


def luma_image(img: np.ndarray) -> np.ndarray:
    """Greyscale ``H x W`` float32 (integer-valued floor of the luma) of one uint8 image."""
    if img.ndim == 2 or img.shape[2] == 1:
        return img.reshape(img.shape[:2]).astype(np.float32)
    # The weighted sum of integers is below 2**24, exact in float32 however OpenCV orders it; the floor
    # of its float32 quotient by 10000 is exact (see ``luma``).
    total = cv2.transform(img.astype(np.float32), _LUMA_ROW).reshape(img.shape[:2])
    np.divide(total, np.float32(10000), out=total)
    return np.floor(total, out=total)


def blend(image: torch.Tensor, degenerate: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * image + (1 - factor) * degenerate`` with one rounding of the second product (a fused multiply-add)."""
    return torch.addcmul(image * factor, degenerate, 1 - factor)


def blend_image(image: np.ndarray, degenerate: np.ndarray, factor: np.float32) -> np.ndarray:
    """NumPy form of ``blend`` on float32 arrays: the fused multiply-add evaluated exactly in float64."""
    scaled = (image * factor).astype(np.float64)
    return (scaled + degenerate.astype(np.float64) * np.float64(np.float32(1) - factor)).astype(np.float32)

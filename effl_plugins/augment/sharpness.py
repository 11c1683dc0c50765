"""Sharpness: blend each image with a smoothed copy of itself (PIL ``ImageEnhance.Sharpness``).

The smoothing kernel is PIL's ``SMOOTH`` filter, ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13``; the
one-pixel border is left untouched. ``out = image + (1 - factor) * (smooth - image)``: factor 0
gives the smoothed image, above 1 sharpens. Matches
``torchvision.transforms.v2.functional.adjust_sharpness``. On uint8 the smoothed value is
``round(S / 13)`` for the integer kernel sum ``S``; it is never a tie, so both backends compute it
exactly as ``floor((2 S + 13) / 26)``.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .base import image_backend
from .enhance import Enhance
from .functional.lut import lookup_pairs_image, truncate_to_uint8

__all__ = ["Sharpness", "SharpnessImage", "SMOOTH", "sharpen", "smoothed"]

#: PIL's SMOOTH filter, times 13
SMOOTH = ((1.0, 1.0, 1.0), (1.0, 5.0, 1.0), (1.0, 1.0, 1.0))
_SMOOTH_THIRTEENTHS = np.array(SMOOTH, dtype=np.float32) / 13


def _smooth_sums(values: torch.Tensor) -> torch.Tensor:
    """The SMOOTH kernel's integer sums at the inner pixels of integer-valued float images: a 3x3 box
    sum plus 4 times the centre, by shifted adds. Every partial sum is an integer below 2**24, so the
    result is exact and equals ``conv2d`` with the kernel.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, H - 2, W - 2]``.
    """
    rows = values[..., :-2, :] + values[..., 1:-1, :]
    rows += values[..., 2:, :]
    sums = rows[..., :-2] + rows[..., 1:-1]
    sums += rows[..., 2:]
    return sums.add_(values[..., 1:-1, 1:-1], alpha=4)


def _tap_sums(values: torch.Tensor) -> torch.Tensor:
    """The SMOOTH kernel's sums at the inner pixels, accumulated as float32 ``conv2d`` accumulates them on a CPU
    with fused multiply-add (oneDNN's depthwise kernel): the nine taps in row order, the centre's weight of 5 as
    one fused multiply-add (``add_`` with ``alpha``: one rounding). Eight adds instead of a convolution; equal to
    it bit for bit where :func:`_taps_equal_convolution` says so.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, H - 2, W - 2]``.
    """
    height, width = values.shape[-2:]

    def tap(row: int, column: int) -> torch.Tensor:
        return values[..., row : height - 2 + row, column : width - 2 + column]

    sums = tap(0, 0) + tap(0, 1)
    sums += tap(0, 2)
    sums += tap(1, 0)
    sums.add_(tap(1, 1), alpha=5)
    for row, column in ((1, 2), (2, 0), (2, 1), (2, 2)):
        sums += tap(row, column)
    return sums


@functools.lru_cache(maxsize=1)
def _taps_equal_convolution() -> bool:
    """Whether :func:`_tap_sums` equals float32 grouped ``conv2d`` with :data:`SMOOTH` (images of two channels or
    more) bit for bit on this machine (both fuse the centre's multiply-add, or neither), told once by a probe of
    wide random values whose rows fill vector lanes and leave tails, one image and several."""
    probe = torch.randn((5, 3, 37, 41), generator=torch.Generator().manual_seed(0)) * 100
    weight = _smooth_weight(torch.float32, probe.device, 3)
    return all(torch.equal(_tap_sums(x), F.conv2d(x, weight, groups=3)) for x in (probe[:1], probe[1:]))


@functools.lru_cache(maxsize=16)
def _smooth_weight(dtype: torch.dtype, device: torch.device, channels: int) -> torch.Tensor:
    """:data:`SMOOTH` as the contiguous ``[C, 1, 3, 3]`` weight of a grouped ``conv2d`` (made once per dtype, device
    and channel count; read, never written: an expanded view costs the convolution a copy every call)."""
    return torch.tensor(SMOOTH, dtype=dtype, device=device).expand(channels, 1, 3, 3).contiguous()


def smoothed(values: torch.Tensor, integer: bool, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """The SMOOTH-filtered inner pixels of float ``values``: ``round(S / 13)`` of the integer kernel sums ``S``
    where ``integer`` (values of uint8 images), else ``conv2d`` with the kernel over 13 (``kernel``: :data:`SMOOTH`
    as a ``[1, 1, 3, 3]`` tensor of the values' dtype and device, made here when None); float32 images of two
    channels or more on the CPU, the same sums by :func:`_tap_sums` where they equal the convolution's
    (:func:`_taps_equal_convolution`).

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, H - 2, W - 2]``.
    """
    if integer:
        return torch.floor(_smooth_sums(values).mul_(2).add_(13).div_(26))
    channels = values.shape[1]
    if kernel is None and channels > 1 and values.dtype == torch.float32 and values.device.type == "cpu":
        if _taps_equal_convolution():  # one channel is not a grouped convolution: torch sums it in another order
            return _tap_sums(values) / 13
    if kernel is None:
        weight = _smooth_weight(values.dtype, values.device, channels)
    else:
        weight = kernel.expand(channels, 1, 3, 3)
    return F.conv2d(values, weight, groups=channels) / 13


def sharpen(values: torch.Tensor, smooth: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """``values + alpha * (smooth - values)`` in one fused multiply-add (as torchvision's ``add_(alpha=)``):
    sharpness's blend with the smoothed image, ``alpha = 1 - factor`` (broadcast: per sample, or per pixel)."""
    return torch.addcmul(values, alpha, smooth - values)


class Sharpness(Enhance):
    """Per-sample random sharpness, factor ~ U(1 - max_delta, 1 + max_delta); images of height or width <= 2 are
    returned unchanged.

    Arguments and shapes: :class:`~.enhance.Enhance`.

    ``backend="image"``: ``cv2.filter2D`` and the same float32 blend; params ``factor``.

    Example:
        >>> aug = Sharpness(max_delta=0.9)
        >>> x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> torch.equal(y[..., 0, :], x[..., 0, :])  # the border is kept
        True
    """

    def apply(self, images, targets, params):
        batch, channels, height, width = images.shape
        if height <= 2 or width <= 2:
            return images, targets
        compute = torch.float32 if images.dtype == torch.uint8 else images.dtype
        out = images.to(compute, copy=True)
        smooth = smoothed(out, images.dtype == torch.uint8)
        inner = out[..., 1:-1, 1:-1]
        alpha = (1 - params["factor"].to(compute)).view(-1, 1, 1, 1)
        inner.copy_(sharpen(inner, smooth, alpha))
        if images.dtype == torch.uint8:
            return truncate_to_uint8(out), targets
        return out.clamp_(0, 1), targets

    def apply_image(self, img, params):
        height, width = img.shape[:2]
        if height <= 2 or width <= 2:
            return img.copy()
        # round(S / 13) of the integer kernel sum S: the float32 filter with weights k / 13 is within 1e-3 of
        # S / 13, which lies at least 1 / 26 from a half-integer, so the floor of it plus 0.5 is exact.
        smooth = cv2.filter2D(img.astype(np.float32), -1, _SMOOTH_THIRTEENTHS, delta=0.5, borderType=cv2.BORDER_REFLECT)
        smooth = np.floor(smooth.reshape(img.shape)[1:-1, 1:-1])
        out = img.copy()
        out[1:-1, 1:-1] = lookup_pairs_image(
            _sharpness_table(float(np.float32(params["factor"]))), smooth, img[1:-1, 1:-1]
        )
        return out


@functools.lru_cache(maxsize=64)
def _sharpness_table(factor: float) -> np.ndarray:
    """``table[smooth, value]``: ``value + alpha * (smooth - value)`` for every pair, exact in float64,
    rounded once. The second term depends on ``smooth - value`` alone, so it is computed for the 511
    differences and read through a Toeplitz view, ``[smooth, value] -> steps[smooth - value + 255]``."""
    alpha = np.float64(np.float32(1) - np.float32(factor))
    steps = alpha * np.arange(-255, 256, dtype=np.float64)  # steps[k] = alpha * (k - 255)
    by_difference = np.lib.stride_tricks.sliding_window_view(steps, 256)[:, ::-1]
    table = np.clip((np.arange(256, dtype=np.float64)[None, :] + by_difference).astype(np.float32), 0, 255).astype(
        np.uint8
    )
    table.flags.writeable = False
    return table


SharpnessImage = image_backend(Sharpness)

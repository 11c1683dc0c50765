"""Equalize: per-channel histogram equalization with PIL's lookup table (PIL ``ImageOps.equalize``,
``torchvision.transforms.v2.functional.equalize``); the tables are :mod:`.functional.histogram`'s. Float images
are quantized to uint8 first (:func:`to_uint8`) and scaled back.
"""

from __future__ import annotations

import torch

from .base import image_backend
from .coin_ops import Applied
from .functional.histogram import channel_histograms_image, equalize_luts, luts_from_histograms
from .functional.lut import apply_lut, apply_lut_image

__all__ = ["Equalize", "EqualizeImage", "EQUALIZE_SCALE", "equalize", "to_uint8"]

#: float image -> uint8 level: ``trunc(clamp(x * EQUALIZE_SCALE, 0, 255))``, as torchvision quantizes
EQUALIZE_SCALE = 256 - 1e-3


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """The uint8 levels equalize reads from float images. Shape: ``[B, C, H, W]`` -> same, uint8."""
    return (images * EQUALIZE_SCALE).clamp_(0, 255).to(torch.uint8)


def equalize(images: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
    """Equalize the samples where ``applied``, each channel by its own table; float images through their uint8
    levels (:func:`to_uint8`), read from the tables divided by 255 (one gather: the values of ``lut[level] / 255``).
    Shape: ``[B, C, H, W]``, applied ``[B]`` (or ``[B, 1, 1, 1]``) -> ``[B, C, H, W]``."""
    if images.dtype != torch.uint8:
        quantized = to_uint8(images)
        batch, channels = images.shape[:2]
        tables = equalize_luts(quantized).to(images.dtype).div_(255)
        out = torch.gather(tables, 2, quantized.reshape(batch, channels, -1).long()).view_as(images)
        if images.device.type == "cpu" and bool(applied.all()):  # a host read only where it costs no sync
            return out
        return torch.where(applied.view(-1, 1, 1, 1), out, images)
    luts = equalize_luts(images)
    ramp = torch.arange(256, dtype=torch.uint8, device=images.device).expand_as(luts)
    return apply_lut(images, torch.where(applied.view(-1, 1, 1), luts, ramp))


class Equalize(Applied):
    """Per-sample random histogram equalization (each channel of each sample its own table).

    ``p``: probability that a sample is equalized (default 0.5). Shapes: :class:`~.coin_ops.Applied`.

    ``backend="image"``: NumPy histograms, per-channel lookup tables. params ``applied`` (a bool).

    Example:
        >>> x = torch.randint(100, 140, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        >>> y, _ = Equalize(p=1.0)(x)
        >>> int(y.min()), int(y.max())  # a narrow range spreads over the full range
        (0, 255)
    """

    chunked = True

    def transform(self, images, applied):
        return equalize(images, applied)

    def transform_image(self, img):
        return apply_lut_image(img, luts_from_histograms(channel_histograms_image(img)))


EqualizeImage = image_backend(Equalize)

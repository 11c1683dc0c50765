"""Invert: ``255 - x`` on uint8, ``1 - x`` on float (PIL ``ImageOps.invert``,
``torchvision.transforms.v2.functional.invert``), applied to each sample with probability p."""

from __future__ import annotations

import cv2
import torch

from .applied import AppliedBatch, AppliedImage

__all__ = ["Invert", "InvertImage"]


def invert(images: torch.Tensor) -> torch.Tensor:
    """The negative image: bitwise not on uint8 (``255 - x``), ``1 - x`` on float."""
    return torch.bitwise_not(images) if images.dtype == torch.uint8 else 1 - images


def invert_chosen(images: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
    """:func:`invert` the samples where ``applied`` ``[B]``, the others copied. Shape: ``[B, C, H, W]`` -> same.

    uint8, any device: one pass, ``x ^ 255`` where applied and ``x ^ 0`` elsewhere (the bitwise not); a
    ``torch.where`` over a whole-batch inverse selects element by element, slowly on the CPU (at p=1, 2 threads,
    64x3x224x224: 0.56 against 4.6 ms; 32x3x64x64: 0.02 against 0.19 ms).
    """
    if images.dtype == torch.uint8:
        return torch.bitwise_xor(images, (applied.to(torch.uint8) * 255).view(-1, 1, 1, 1))
    # float, one pass: ``1 + (-1) * x`` (``1 - x`` exactly: the product is exact) where applied, ``-0.0 + 1 * x`` (``x``
    # bit for bit, -0.0 included) elsewhere; the select over a whole-batch inverse took three (56x3x32x32: ~2x)
    chosen = applied.view(-1, 1, 1, 1)
    scale = torch.where(chosen, -1.0, 1.0).to(images.dtype)
    offset = torch.where(chosen, 1.0, -0.0).to(images.dtype)
    return torch.addcmul(offset, images, scale)


class Invert(AppliedBatch):
    """Per-sample random inversion.

    ``p``: probability that a sample is inverted (default 0.5). Shapes: :class:`~.applied.AppliedBatch`.

    Example:
        >>> x = torch.tensor([0, 100, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(2, 3, 1, 3)
        >>> y, _ = Invert()(x, params={"applied": torch.tensor([True, False])})
        >>> y[0, 0, 0].tolist(), y[1, 0, 0].tolist()
        ([255, 155, 0], [0, 100, 255])
    """

    point_op = True

    def transform(self, images, applied):
        return invert_chosen(images, applied)


class InvertImage(AppliedImage):
    """Image backend of ``invert`` (``cv2.bitwise_not``). Args: ``p``; params ``applied``."""

    def transform(self, img):
        return cv2.bitwise_not(img).reshape(img.shape)

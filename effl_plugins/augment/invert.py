"""Invert: ``255 - x`` on uint8, ``1 - x`` on float (PIL ``ImageOps.invert``,
``torchvision.transforms.v2.functional.invert``), applied to each sample with probability p."""

from __future__ import annotations

import cv2
import torch

from .base import image_backend
from .coin_ops import Applied
from .kernels.rows import select_rows, write_rows_

__all__ = ["Invert", "InvertImage"]


def invert(images: torch.Tensor) -> torch.Tensor:
    """The negative image: bitwise not on uint8 (``255 - x``), ``1 - x`` on float."""
    return torch.bitwise_not(images) if images.dtype == torch.uint8 else 1 - images


def invert_chosen(images: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
    """:func:`invert` the samples where ``applied`` ``[B]``, the others copied. Shape: ``[B, C, H, W]`` -> same.

    uint8: one pass of ``x ^ 255`` where applied and ``x ^ 0`` elsewhere; float: ``1 - x`` rounded once where
    applied and ``x`` itself elsewhere.
    """
    if images.dtype == torch.uint8:
        return torch.bitwise_xor(images, (applied.to(torch.uint8) * 255).view(-1, 1, 1, 1))
    if images.device.type == "cpu" and images.dtype in (torch.float32, torch.float64):
        return _invert_rows(images, applied)
    # float, one pass: ``1 + (-1) * x`` (``1 - x`` exactly: the product is exact) where applied, ``-0.0 + 1 * x`` (``x``
    # bit for bit, -0.0 included) elsewhere, with no host read of ``applied``
    chosen = applied.view(-1, 1, 1, 1)
    scale = torch.where(chosen, -1.0, 1.0).to(images.dtype)
    offset = torch.where(chosen, 1.0, -0.0).to(images.dtype)
    return torch.addcmul(offset, images, scale)


def _invert_rows(images: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
    """``1 - x`` on the samples where ``applied``, the others copied, in contiguous passes. Shape: ``[B, C, H, W]``
    float on the CPU -> same, contiguous."""
    index = applied.nonzero().squeeze(1)
    if len(index) == len(images):
        return torch.rsub(images.contiguous(), 1)
    out = images.clone(memory_format=torch.contiguous_format)
    if len(index):
        write_rows_(out, index, torch.rsub(select_rows(out, index), 1))
    return out


class Invert(Applied):
    """Per-sample random inversion.

    ``p``: probability that a sample is inverted (default 0.5). Shapes: :class:`~.coin_ops.Applied`.

    ``backend="image"``: ``cv2.bitwise_not``. params ``applied`` (a bool).

    Example:
        >>> x = torch.tensor([0, 100, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(2, 3, 1, 3)
        >>> y, _ = Invert()(x, params={"applied": torch.tensor([True, False])})
        >>> y[0, 0, 0].tolist(), y[1, 0, 0].tolist()
        ([255, 155, 0], [0, 100, 255])
    """

    point_op = True

    def transform(self, images, applied):
        return invert_chosen(images, applied)

    def transform_image(self, img):
        return cv2.bitwise_not(img).reshape(img.shape)


InvertImage = image_backend(Invert)

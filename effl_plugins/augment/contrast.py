"""Contrast: blend each image with its mean grey level (PIL ``ImageEnhance.Contrast``).

``out = factor * image + (1 - factor) * mean(grey(image))``, clipped; factor 0 gives a flat grey
image, 1 the image itself. Matches ``torchvision.transforms.v2.functional.adjust_contrast``
(see ``enhance`` for the one source of a difference of 1 on uint8). On uint8 the map is a
per-sample lookup table: the batch backend evaluates it directly in float32, the image backend
builds the table and applies it with ``apply_lut_image``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .base import image_backend
from .enhance import Enhance
from .functional.enhance import blend, blend_image, luma, luma_image
from .functional.lut import apply_lut_image, truncate_to_uint8
from .kernels.lut import apply_lut, identity_luts

__all__ = ["Contrast", "ContrastImage", "mean_grey", "blend_with_grey"]


def mean_grey(images: torch.Tensor) -> torch.Tensor:
    """Each image's mean grey level ``[B, 1, 1, 1]`` float32 (uint8) or the images' float dtype."""
    grey = luma(images)
    if images.dtype == torch.uint8:  # exact sum of integers, correctly rounded mean
        return (grey.sum(dim=(1, 2, 3), keepdim=True, dtype=torch.float64) / grey[0].numel()).to(torch.float32)
    return grey.mean(dim=(1, 2, 3), keepdim=True)


class Contrast(Enhance):
    """Per-sample random contrast, factor ~ U(1 - max_delta, 1 + max_delta).

    Arguments and shapes: :class:`~.enhance.Enhance`.

    ``backend="image"``: one lookup table (``apply_lut_image``); params ``factor``.

    Example:
        >>> aug = Contrast(max_delta=0.5)
        >>> x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> y.shape, y.dtype
        (torch.Size([4, 3, 8, 8]), torch.uint8)
    """

    def apply(self, images, targets, params):
        mean = mean_grey(images)
        if images.dtype == torch.uint8:  # a point op once the mean is known: its table, one lookup per pixel
            # the same table for every channel (the mean grey and the factor are the sample's): made once
            ramp = identity_luts(images.shape[0], 1, images.device).unsqueeze(2)
            table = blend_with_grey(ramp, mean, params["factor"]).squeeze(2)
            return apply_lut(images, table.expand(-1, images.shape[1], -1)), targets
        return blend_with_grey(images, mean, params["factor"]), targets

    def apply_image(self, img, params):
        grey = luma_image(img)
        mean = np.float32(cv2.sumElems(grey)[0] / grey.size)  # integer-valued floats: an exact sum in double
        factor = np.float32(params["factor"])
        ramp = np.arange(256, dtype=np.float32)
        lut = np.clip(blend_image(ramp, mean, factor), 0, 255).astype(np.uint8)
        return apply_lut_image(img, lut)


def blend_with_grey(values: torch.Tensor, mean: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """The contrast map of each sample, given its mean grey level: a point op, so ``values`` may be the
    images themselves or any per-sample values (a ``[B, C, 1, 256]`` lookup table gives the op's table).

    Shape:
        values ``[B, ...]`` (4-D) uint8 or float, mean ``[B, 1, 1, 1]``, factor ``[B]`` -> ``values.shape``.
    """
    compute = torch.float32 if values.dtype == torch.uint8 else values.dtype
    factor = factor.to(compute).view(-1, 1, 1, 1)
    if values.dtype in _LANE_DTYPES and values.device.type == "cpu" and values[0].numel() % _LANES == 0:
        return _blend_lanes(values, mean.to(compute), factor).clamp_(0, 1)
    blended = blend(values.to(compute), mean.to(compute), factor)
    if values.dtype == torch.uint8:
        return truncate_to_uint8(blended)
    return blended.clamp_(0, 1)


#: the row length of :func:`_blend_lanes`' per-sample operand
_LANES = 64
#: the dtypes :func:`_blend_lanes` serves (half types round differently between the element loop and the vector one)
_LANE_DTYPES = (torch.float32, torch.float64)


def _blend_lanes(values: torch.Tensor, mean: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """:func:`~.functional.enhance.blend` of float ``values`` with their samples' ``mean``, into a new contiguous
    tensor: ``fma(mean, 1 - factor, values * factor)``, the same fused multiply-add, with the mean spread over rows of
    :data:`_LANES` values so that the CPU's vectorized loop runs it (two per-sample operands broadcast over whole
    samples make it go element by element).

    Shape:
        values ``[B, ...]`` float (sample size a multiple of :data:`_LANES`), mean and factor ``[B, 1, 1, 1]`` ->
        ``values.shape``.
    """
    batch = values.shape[0]
    rows = values[0].numel() // _LANES
    out = torch.mul(values.contiguous(), factor)
    lanes = mean.reshape(batch, 1, 1).expand(batch, 1, _LANES).contiguous().expand(batch, rows, _LANES)
    flat = out.view(batch, rows, _LANES)
    torch.addcmul(flat, lanes, (1 - factor).view(batch, 1, 1), out=flat)
    return out


ContrastImage = image_backend(Contrast)

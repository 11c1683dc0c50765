"""Contrast: blend each image with its mean grey level (PIL ``ImageEnhance.Contrast``).

``out = factor * image + (1 - factor) * mean(grey(image))``, clipped; factor 0 gives a flat grey
image, 1 the image itself. Matches ``torchvision.transforms.v2.functional.adjust_contrast``
(see ``enhance`` for the one source of a difference of 1 on uint8). On uint8 the map is a
per-sample lookup table (:func:`contrast_tables`).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from .base import image_backend
from .enhance import Enhance
from .functional.enhance import LUMA_INT, blend, blend_image, luma, luma_image
from .functional.lut import apply_lut_image, truncate_to_uint8
from .kernels.lut import apply_lut
from .kernels.sample_tables import translate_samples

__all__ = ["Contrast", "ContrastImage", "mean_grey", "blend_with_grey", "contrast_tables"]


def mean_grey(images: torch.Tensor, grey: torch.Tensor | None = None) -> torch.Tensor:
    """Each image's mean grey level ``[B, 1, 1, 1]`` float32 (uint8) or the images' float dtype; ``grey``: the
    images' :func:`~.functional.enhance.luma` where the caller has it already.

    uint8: the exact sum of the integer grey levels, divided once and rounded to float32 (in float32 below
    :data:`_EXACT_SUM_PIXELS` pixels, where it is exact, else in float64).
    """
    if images.dtype != torch.uint8:
        return (luma(images) if grey is None else grey).mean(dim=(1, 2, 3), keepdim=True)
    if grey is None and images.device.type == "cpu" and images.is_contiguous():
        return _mean_grey_numpy(images)
    grey = luma(images) if grey is None else grey
    pixels = images.shape[2] * images.shape[3]
    if pixels <= _EXACT_SUM_PIXELS:
        return grey.sum(dim=(1, 2, 3), keepdim=True).div_(pixels)
    return (grey.sum(dim=(1, 2, 3), keepdim=True, dtype=torch.float64) / pixels).to(torch.float32)


def _mean_grey_numpy(images: torch.Tensor) -> torch.Tensor:
    """:func:`mean_grey` of a contiguous uint8 CPU batch by NumPy, the same values: the luma's integer weighted sum
    ``S`` of each pixel in float32 (exact: integers below ``2**24``, in any order), its grey level ``S // 10000`` as
    the floor of ``S`` times :data:`_TEN_THOUSANDTH`, each sample's sum divided once (``einsum``: no BLAS threads,
    where ``@`` would wake OpenBLAS's).

    Shape:
        ``[B, C, H, W]`` uint8 (C 1 or 3) -> ``[B, 1, 1, 1]`` float32.
    """
    batch, channels, height, width = images.shape
    pixels = height * width
    planes = images.numpy().reshape(batch, channels, pixels)
    if channels == 1:
        grey = planes[:, 0].astype(np.float32)
    else:  # one conversion of all planes, one weighted sum: fewer passes than three uint8-by-float32 products
        grey = np.einsum("c,bcp->bp", _LUMA_WEIGHTS, planes.astype(np.float32))
        grey *= _TEN_THOUSANDTH
        np.floor(grey, out=grey)
    if pixels <= _EXACT_SUM_PIXELS:
        mean = np.einsum("bp->b", grey) / np.float32(pixels)
    else:
        mean = (grey.sum(axis=1, dtype=np.float64) / pixels).astype(np.float32)
    return torch.from_numpy(mean).view(batch, 1, 1, 1)


#: the luma's integer weights as float32, for :func:`_mean_grey_numpy`
_LUMA_WEIGHTS = np.array(LUMA_INT, dtype=np.float32)
#: the float32 just above 1/10000: ``floor(S * _TEN_THOUSANDTH)`` is ``S // 10000`` for every luma sum ``S`` (0 to
#: ``255 * 9999``; the tests check every ``S``)
_TEN_THOUSANDTH = np.nextafter(np.float32(1e-4), np.float32(1))
#: the most pixels whose grey levels (0..255) sum exactly in float32: ``255 * pixels < 2**24``
_EXACT_SUM_PIXELS = (2**24 - 1) // 255


def contrast_tables(mean: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each sample's uint8 contrast map as a table: :func:`blend_with_grey` of the 256 values, one table per sample
    (the mean grey and the factor are the sample's, the same for every channel).

    Shape:
        mean ``[B, 1, 1, 1]`` float32, factor ``[B]`` -> ``[B, 256]`` uint8.
    """
    factor = factor.to(torch.float32).view(-1, 1)
    blended = blend(_float_ramp(mean.device), mean.view(-1, 1), factor)
    if blended.device.type != "cpu":
        return truncate_to_uint8(blended)
    tables = blended.numpy()
    np.clip(tables, 0, 255, out=tables)
    return torch.from_numpy(tables.astype(np.uint8))


@functools.lru_cache(maxsize=16)
def _float_ramp(device: torch.device) -> torch.Tensor:
    """The 256 uint8 values as float32 ``[256]`` on ``device``, made once (read, never written)."""
    return torch.arange(256, dtype=torch.float32, device=device)


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
            tables = contrast_tables(mean, params["factor"])
            if images.device.type == "cpu" and images.is_contiguous():  # one table for all of a sample's channels
                return translate_samples(images, tables), targets
            return apply_lut(images, tables.unsqueeze(1)), targets
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
    tensor, with the mean spread over rows of :data:`_LANES` values so that the CPU's vectorized loop runs it.

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

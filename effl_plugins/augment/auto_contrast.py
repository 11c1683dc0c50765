"""Auto contrast: stretch each channel linearly so that its minimum becomes 0 and its maximum the
top of the range (PIL ``ImageOps.autocontrast`` with no cutoff,
``torchvision.transforms.v2.functional.autocontrast``).

``out = (x - min) / ((max - min) / 255)`` clipped and truncated on uint8, in float32 as torchvision
computes it, so both agree bit for bit; a constant channel is left unchanged. Because float32(1/255)
is slightly above 1/255, the top value often truncates to 254 rather than 255 (in about 4 of 5
ranges; PIL's double-precision table reaches 255 more often and differs from torchvision there).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .base import image_backend
from .coin_ops import Applied
from .functional.lut import apply_lut_image, truncate_to_uint8
from .kernels.lut import apply_lut, identity_luts

__all__ = ["AutoContrast", "AutoContrastImage", "channel_ranges", "stretch", "stretch_tables"]


class AutoContrast(Applied):
    """Per-sample random auto contrast (each channel stretched to the full range).

    ``p``: probability that a sample is changed (default 0.5). Shapes: :class:`~.coin_ops.Applied`.

    ``backend="image"``: per-channel lookup tables. params ``applied`` (a bool).

    Example:
        >>> x = torch.tensor([50, 100, 150], dtype=torch.uint8).view(1, 1, 1, 3).expand(1, 3, 1, 3)
        >>> y, _ = AutoContrast(p=1.0)(x)
        >>> y[0, 0, 0].tolist()  # 254 at the top: torchvision's float32 arithmetic, see above
        [0, 127, 254]
    """

    chunked = True

    def transform(self, images, applied):
        low, high = channel_ranges(images)
        if images.dtype == torch.uint8:
            ramp = identity_luts(*images.shape[:2], images.device).unsqueeze(2)
            return apply_lut(images, stretch(ramp, low, high, applied).squeeze(2))
        return stretch(images, low, high, applied)

    def transform_image(self, img):
        planes = cv2.split(img) if img.ndim == 3 and img.shape[2] > 1 else [img.reshape(img.shape[0], -1)]
        ranges = np.array([cv2.minMaxLoc(plane)[:2] for plane in planes], dtype=np.float32)  # exact: uint8 values
        return apply_lut_image(img, stretch_tables(ranges[:, 0], ranges[:, 1]))


#: the 256 uint8 values as float32, the ramp the image tables are computed on
_RAMP = np.arange(256, dtype=np.float32)


def channel_ranges(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each channel's lowest and highest value, the range :func:`stretch` maps onto the full one.

    Shape:
        ``[B, C, H, W]`` -> two ``[B, C, 1, 1]`` of the images' dtype.
    """
    return images.amin(dim=(-2, -1), keepdim=True), images.amax(dim=(-2, -1), keepdim=True)


def stretch_tables(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The auto-contrast tables of uint8 channels whose values span ``[low, high]`` (float32), by the float32
    operations of :func:`stretch`; a constant channel gets the identity.

    Shape:
        low, high ``[...]`` float32 -> ``[..., 256]`` uint8.
    """
    span = high - low
    inv_scale = span * np.float32(1.0 / 255)
    keep = span == 0
    if keep.any():  # offset 0, scale 1: the identity table
        low, inv_scale = np.where(keep, np.float32(0), low), np.where(keep, np.float32(1), inv_scale)
    tables = _RAMP - low[..., None]
    tables /= inv_scale[..., None]
    np.clip(tables, 0, 255, out=tables)
    return tables.astype(np.uint8)


def stretch(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
    """The auto-contrast map of each channel, given its range ``[low, high]``: a point op, so
    ``values`` may be the images themselves or per-channel lookup tables (``[B, C, 1, 256]``).

    Shape:
        values ``[B, C, h, w]`` uint8 or float, low/high ``[B, C, 1, 1]`` (same dtype), applied ``[B]`` bool ->
        ``values.shape``.
    """
    bound = 255.0 if values.dtype == torch.uint8 else 1.0
    if values.dtype == torch.uint8:
        values, low, high = values.to(torch.float32), low.to(torch.float32), high.to(torch.float32)
    keep = (high == low) | ~applied.view(-1, 1, 1, 1)
    inv_scale = torch.where(keep, 1.0, (high - low) * (1.0 / bound))
    out = (values - torch.where(keep, 0.0, low)) / inv_scale
    return truncate_to_uint8(out) if bound == 255.0 else out.clamp_(0, 1)


AutoContrastImage = image_backend(AutoContrast)

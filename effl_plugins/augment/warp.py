"""One batched affine warp for every geometric augmentation, and its OpenCV twin for one image.

``warp_affine(images, matrices)`` resamples a whole ``[B, C, H, W]`` batch, each sample through its
own matrix, with one gather per neighbour and no Python loop over samples. Matrices are FORWARD maps
(input pixel -> output pixel, the ``M`` of ``cv2.warpAffine`` and ``cv2.getAffineTransform``) in
pixel-centre coordinates (pixel ``(i, j)`` sits at ``x = j, y = i``); see :mod:`.matrices`. The warp
inverts them once and reads the input at the inverse image of every output pixel centre:

- ``"nearest"``: the pixel at ``floor(coordinate + 0.5)`` (OpenCV's rounding), an exact integer
  gather: uint8 stays uint8 and never goes through float;
- ``"bilinear"``: the four neighbours blended in float32; uint8 input comes back rounded to uint8.

Pixels read from outside the input take ``fill`` (in the image's own units: 0..255 for uint8,
0..1 for float; a number or one value per channel), like ``cv2.BORDER_CONSTANT``.

:class:`GeometricAugmentation` is the base of the batch ops built on it: each defines
``matrix_from_params(params, height, width) -> [B, 3, 3]`` so ops can be composed into one warp.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from .._validate import choice, is_number, probability
from .base import BatchAugmentation, ImageAugmentation

__all__ = [
    "warp_affine",
    "warp_affine_image",
    "invert_affine",
    "check_interpolation",
    "check_fill",
    "check_range",
    "check_axis",
    "gather_pixels",
    "bilinear_gather",
    "fill_tensor",
    "GeometricAugmentation",
    "GeometricImageAugmentation",
]

INTERPOLATIONS = ("nearest", "bilinear")
_CV2_FLAGS = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR}


def check_interpolation(interpolation: Any) -> str:
    return choice(interpolation, "interpolation", INTERPOLATIONS)


def check_fill(fill: Any) -> float | tuple[float, ...]:
    """A fill value: one number or one number per channel (1 or 3), in the image's units."""
    values = fill if isinstance(fill, (list, tuple)) else [fill]
    if len(values) not in (1, 3) or not all(is_number(v) for v in values):
        raise ValueError(f"fill must be a number or a sequence of 1 or 3 numbers, got {fill!r}")
    return float(values[0]) if len(values) == 1 else tuple(float(v) for v in values)


def invert_affine(matrices: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of ``[B, 2, 3]`` or ``[B, 3, 3]`` affine matrices -> ``[B, 2, 3]``."""
    work = torch.float64 if matrices.device.type in ("cpu", "cuda") else torch.float32
    m = matrices[:, :2, :].to(work)
    a, b, tx, c, d, ty = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2], m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    rows = [ia, ib, -(ia * tx + ib * ty), ic, id_, -(ic * tx + id_ * ty)]
    return torch.stack(rows, -1).view(-1, 2, 3).to(torch.float32)


def fill_tensor(fill, images: torch.Tensor) -> torch.Tensor:
    if isinstance(fill, torch.Tensor):  # already on the device: no host-to-device copy
        values = fill.to(images.device, torch.float32).reshape(-1)
    else:
        values = torch.as_tensor(
            fill if isinstance(fill, (list, tuple)) else [fill], dtype=torch.float32, device=images.device
        )
    if values.numel() not in (1, images.shape[1]):
        raise ValueError(f"fill has {values.numel()} values but the images have {images.shape[1]} channels")
    if images.dtype == torch.uint8:
        values = values.round().clamp(0, 255)
    return values.to(images.dtype).view(1, -1, 1, 1)


def gather_pixels(images: torch.Tensor, ix: torch.Tensor, iy: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """``images[b, :, iy, ix]`` for integer-valued float coordinates ``[B, h, w]``; ``fill`` outside."""
    batch, channels, height, width = images.shape
    inside = (ix >= 0) & (ix <= width - 1) & (iy >= 0) & (iy <= height - 1)
    flat = torch.where(inside, iy * width + ix, 0).long()  # non-finite coordinates read as outside
    index = flat.view(batch, 1, -1).expand(batch, channels, -1)
    values = images.reshape(batch, channels, height * width).gather(2, index).view(batch, channels, *ix.shape[1:])
    return torch.where(inside.unsqueeze(1), values, fill)


def warp_affine(
    images: torch.Tensor,
    matrices: torch.Tensor,
    interpolation: str = "nearest",
    fill: float | Sequence[float] = 0,
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Warp each image of a batch by its own forward affine matrix.

    Args:
        images: ``[B, C, H, W]`` uint8 or floating.
        matrices: ``[B, 2, 3]`` or ``[B, 3, 3]`` forward maps (input -> output pixel coordinates).
        interpolation: ``"nearest"`` (exact on uint8) or ``"bilinear"`` (float32 inside, uint8 rounded back).
        fill: value of pixels that come from outside the input, in the image's units.
        size: output ``(height, width)``; the input size by default.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, *size]``, same dtype and device.

    Example:
        >>> from effl_plugins.augment import matrices
        >>> x = torch.arange(16, dtype=torch.uint8).view(1, 1, 4, 4)
        >>> m = matrices.translation(torch.tensor([1.0]), torch.tensor([0.0]))
        >>> warp_affine(x, m)[0, 0, 0].tolist()
        [0, 0, 1, 2]
    """
    check_interpolation(interpolation)
    batch, _, height, width = images.shape
    out_h, out_w = size if size is not None else (height, width)
    inverse = invert_affine(matrices.to(images.device)).unsqueeze(-1).unsqueeze(-1)  # [B, 2, 3, 1, 1]
    xs = torch.arange(out_w, dtype=torch.float32, device=images.device).view(1, 1, out_w)
    ys = torch.arange(out_h, dtype=torch.float32, device=images.device).view(1, out_h, 1)
    src_x = inverse[:, 0, 0] * xs + inverse[:, 0, 1] * ys + inverse[:, 0, 2]  # [B, out_h, out_w]
    src_y = inverse[:, 1, 0] * xs + inverse[:, 1, 1] * ys + inverse[:, 1, 2]
    fill_value = fill_tensor(fill, images)
    if interpolation == "nearest":
        return gather_pixels(images, torch.floor(src_x + 0.5), torch.floor(src_y + 0.5), fill_value)
    return bilinear_gather(images, src_x, src_y, fill_value)


def bilinear_gather(images: torch.Tensor, src_x: torch.Tensor, src_y: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``images`` at float coordinates ``[B, h, w]``; ``fill`` beyond the border."""
    x0, y0 = torch.floor(src_x), torch.floor(src_y)
    wx, wy = (src_x - x0).unsqueeze(1), (src_y - y0).unsqueeze(1)

    def at(x, y):
        return gather_pixels(images, x, y, fill).to(torch.float32)

    top = at(x0, y0) * (1 - wx) + at(x0 + 1, y0) * wx
    bottom = at(x0, y0 + 1) * (1 - wx) + at(x0 + 1, y0 + 1) * wx
    out = top * (1 - wy) + bottom * wy
    if images.dtype == torch.uint8:
        return out.round_().clamp_(0, 255).to(torch.uint8)
    return out.to(images.dtype)


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


class GeometricAugmentation(BatchAugmentation):
    """Base of batch ops that are one affine warp: subclasses give ``sample_params`` and ``matrix_from_params``.

    Args (shared):
        interpolation: ``"nearest"`` (exact integer gather, torchvision's default) or ``"bilinear"``.
        fill: value for pixels that come from outside the image (image units).
        p: probability that a sample is transformed (the others get the identity, bit for bit).
    """

    def __init__(self, interpolation: str = "nearest", fill: float | Sequence[float] = 0, p: float = 1.0) -> None:
        super().__init__()
        self.interpolation = check_interpolation(interpolation)
        self.fill = check_fill(fill)
        self.p = probability(p)

    def matrix_from_params(self, params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """``[B, 3, 3]`` forward matrices (input -> output pixel coordinates) for these params."""
        raise NotImplementedError

    def apply(self, images, targets, params):
        matrices = self.matrix_from_params(params, images.shape[-2], images.shape[-1])
        return warp_affine(images, matrices, self.interpolation, self.fill), targets


class GeometricImageAugmentation(ImageAugmentation):
    """Base of image-backend ops that are one ``cv2.warpAffine``; subclasses give ``matrix_from_params``."""

    def __init__(self, interpolation: str = "nearest", fill: float | Sequence[float] = 0, p: float = 1.0) -> None:
        super().__init__()
        self.interpolation = check_interpolation(interpolation)
        self.fill = check_fill(fill)
        self.p = probability(p)

    def matrix_from_params(self, params: dict[str, Any], height: int, width: int) -> np.ndarray:
        raise NotImplementedError

    def apply(self, img, params):
        matrix = self.matrix_from_params(params, img.shape[0], img.shape[1])
        return warp_affine_image(img, matrix, self.interpolation, self.fill)


def check_range(value: Any, name: str, *, symmetric: bool = True, minimum: float | None = None) -> tuple[float, float]:
    """``d`` -> ``(-d, d)`` (``symmetric``) and ``(low, high)`` -> itself, with ``low <= high`` and ``>= minimum``."""
    if is_number(value) and symmetric:
        if value < 0:
            raise ValueError(
                f"{name} must be >= 0 (the range is (-{name}, {name})) or a (low, high) pair, got {value!r}"
            )
        low, high = -float(value), float(value)
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(is_number(v) for v in value):
        low, high = float(value[0]), float(value[1])
    else:
        allowed = "a number >= 0 or a (low, high) pair" if symmetric else "a (low, high) pair"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if low > high or not np.isfinite([low, high]).all():
        raise ValueError(f"{name} must be a finite (low, high) pair with low <= high, got {value!r}")
    if minimum is not None and low < minimum:
        raise ValueError(f"{name} must lie in [{minimum}, ...), got {value!r}")
    return low, high


def check_axis(axis: Any) -> str:
    return choice(axis, "axis", ("x", "y", "both"))

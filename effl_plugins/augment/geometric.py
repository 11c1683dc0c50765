"""The base of the ops that are one affine warp (flip aside: rotate, shear, translate, affine), and the range
and axis checks they share.

A batch op defines ``matrix_from_params(params, height, width) -> [B, 3, 3]`` so ops can be composed into
one warp (:func:`effl_plugins.augment.functional.warp.warp_affine`); its image twin returns one ``3 x 3``
matrix for ``cv2.warpAffine``. Both backends take the same arguments, checked once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._validate import choice, is_number, probability
from .base import BatchAugmentation, ImageAugmentation
from .functional.warp import check_fill, check_interpolation, warp_affine, warp_affine_image

__all__ = ["GeometricAugmentation", "GeometricImageAugmentation", "check_range", "check_axis"]


class _GeometricArguments:
    """The arguments of both backends, checked in one place."""

    def __init__(self, interpolation: str = "nearest", fill: float | Sequence[float] = 0, p: float = 1.0) -> None:
        super().__init__()
        self.interpolation = check_interpolation(interpolation)
        self.fill = check_fill(fill)
        self.p = probability(p)


class GeometricAugmentation(_GeometricArguments, BatchAugmentation):
    """Base of batch ops that are one affine warp: subclasses give ``sample_params`` and ``matrix_from_params``.

    Args (shared):
        interpolation: ``"nearest"`` (exact integer gather, torchvision's default) or ``"bilinear"``.
        fill: value for pixels that come from outside the image (image units).
        p: probability that a sample is transformed (the others get the identity, bit for bit).
    """

    chunked = True

    def matrix_from_params(self, params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """``[B, 3, 3]`` forward matrices (input -> output pixel coordinates) for these params."""
        raise NotImplementedError

    def apply(self, images, targets, params):
        matrices = self.matrix_from_params(params, images.shape[-2], images.shape[-1])
        return warp_affine(images, matrices, self.interpolation, self.fill), targets


class GeometricImageAugmentation(_GeometricArguments, ImageAugmentation):
    """Base of image-backend ops that are one ``cv2.warpAffine``; subclasses give ``matrix_from_params``."""

    def matrix_from_params(self, params: dict[str, Any], height: int, width: int) -> np.ndarray:
        """One ``3 x 3`` forward matrix for these params."""
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

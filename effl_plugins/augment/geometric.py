"""The base of the ops that are one affine warp (flip aside: rotate, shear, translate, affine), and the range
and axis checks they share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validate import choice, is_number, probability
from .base import Augmentation
from .functional.warp import check_fill, check_interpolation, warp_affine, warp_affine_image

__all__ = ["GeometricAugmentation", "check_range", "check_axis"]


class GeometricAugmentation(Augmentation):
    """Base of ops that are one affine warp: subclasses give ``sample_params`` and ``matrix_from_params`` (batch:
    ``[B, 3, 3]`` forward matrices, input -> output pixel coordinates) and their ``_image`` forms (one ``3 x 3``
    matrix for ``cv2.warpAffine``).

    Args (shared):
        interpolation: ``"nearest"`` (exact integer gather, torchvision's default) or ``"bilinear"``.
        fill: value for pixels that come from outside the image (image units).
        p: probability that a sample is transformed (the others get the identity, bit for bit).
        backend: ``"batch"`` or ``"image"``.
    """

    chunked = True

    def __init__(
        self,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        p: float = 1.0,
        *,
        backend: str = "batch",
    ) -> None:
        super().__init__(backend)
        self.interpolation = check_interpolation(interpolation)
        self.fill = check_fill(fill)
        self.p = probability(p)

    def apply(self, images, targets, params):
        matrices = self.matrix_from_params(params, images.shape[-2], images.shape[-1])
        return warp_affine(images, matrices, self.interpolation, self.fill), targets

    def apply_image(self, img, params):
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


def axis_weights(axis: str) -> tuple[float, float]:
    """``(1, 0)``, ``(0, 1)`` or ``(1, 1)``: which of x and y an op along ``axis`` moves."""
    return float(axis in ("x", "both")), float(axis in ("y", "both"))

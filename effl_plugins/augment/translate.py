"""Translate: shift each image by its own offset along x, y or both; uncovered pixels take ``fill``.

The offset is in pixels, positive = right / down (``torchvision.transforms.v2.functional.affine``'s
``translate``). Random offsets are drawn as a fraction of the image size and rounded to whole pixels
by default (torchvision's ``RandomAffine``), so with ``"nearest"`` the result is an exact shifted slice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .auto.magnitude import LEVEL_TO_ARG, bin_value, bin_value_scalar
from .base import bernoulli, image_backend, uniform
from .functional import matrices
from .geometric import GeometricAugmentation, axis_weights, check_axis, check_range

__all__ = ["Translate", "TranslateImage", "rand_augment_shift", "translate_matrix"]

#: RandAugment's largest shift as a fraction of the size (torchvision: 150 / 331 of the width).
MAX_FRACTION = LEVEL_TO_ARG["translate_x"].top


def rand_augment_shift(magnitude: torch.Tensor, sign: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """RandAugment's shift ``(tx, ty)`` of each sample, torchvision's:
    ``int(sign * linspace(0, 150 / 331 * size, 31)[M])`` pixels along x (size = width) and y (size = height),
    truncated toward zero.

    Shape:
        magnitude, sign ``[B]`` -> ``[B, 2]`` float32 (whole pixels).
    """
    ends = torch.tensor([MAX_FRACTION * width, MAX_FRACTION * height], dtype=torch.float32, device=magnitude.device)
    return sign.to(torch.float32).unsqueeze(-1) * torch.trunc(bin_value(0.0, ends, magnitude.unsqueeze(-1)))


def translate_matrix(shift: torch.Tensor) -> torch.Tensor:
    """``[B, 3, 3]`` translations by ``shift`` ``[B, 2]`` = ``(tx, ty)`` pixels."""
    return matrices.translation(shift[:, 0], shift[:, 1])


class Translate(GeometricAugmentation):
    """Per-sample shift.

    Args:
        max_fraction: offset range as a fraction of the image size along each moved axis: ``f`` means
            ``U(-f, f) * size``, or a ``(low, high)`` pair.
        axis: ``"x"``, ``"y"`` or ``"both"`` (independent offsets).
        whole_pixels: round random offsets to whole pixels (then nearest is an exact shift).
        interpolation, fill, p: see :class:`~effl_plugins.augment.geometric.GeometricAugmentation`.

    ``backend="image"``: ``cv2.warpAffine``; params ``{"shift": (tx, ty)}`` pixels.

    Shape:
        ``[B, C, H, W]`` -> same. params: ``shift`` ``[B, 2]`` = ``(tx, ty)`` pixels.

    Example:
        >>> aug = Translate(axis="x")
        >>> x = torch.arange(4, dtype=torch.uint8).view(1, 1, 1, 4) + 1
        >>> aug(x, params={"shift": torch.tensor([[1.0, 0.0]])})[0].flatten().tolist()
        [0, 1, 2, 3]
    """

    signed = True

    def __init__(
        self,
        max_fraction: float | tuple[float, float] = 0.2,
        axis: str = "x",
        whole_pixels: bool = True,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        p: float = 1.0,
        *,
        backend: str = "batch",
    ):
        super().__init__(interpolation, fill, p, backend=backend)
        self.max_fraction = check_range(max_fraction, "max_fraction")
        self.axis = check_axis(axis)
        self.whole_pixels = bool(whole_pixels)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        fraction = uniform((batch, 2), *self.max_fraction, device, generator)
        sizes = torch.tensor([images.shape[-1], images.shape[-2]], dtype=torch.float32, device=device)
        shift = fraction * sizes * torch.tensor(axis_weights(self.axis), device=device)
        if self.whole_pixels:
            shift = torch.round(shift)
        return {"shift": shift * bernoulli((batch, 1), self.p, device, generator)}

    def params_from_magnitude(self, images, magnitude, sign):
        """RandAugment's translate, torchvision's: ``sign * int(linspace(0, 150 / 331 * size, 31)[M])`` whole pixels."""
        shift = rand_augment_shift(magnitude, sign, images.shape[-2], images.shape[-1])
        return {"shift": shift * torch.tensor(axis_weights(self.axis), device=images.device)}

    def matrix_from_params(self, params, height, width):
        return translate_matrix(params["shift"])

    def sample_params_image(self, img, rng):
        shift = (
            rng.uniform(*self.max_fraction, size=2)
            * np.array([img.shape[1], img.shape[0]])
            * np.array(axis_weights(self.axis))
        )
        shift = np.round(shift) if self.whole_pixels else shift
        return {"shift": (shift * (rng.random() < self.p)).astype(np.float32)}

    def params_from_magnitude_image(self, img: np.ndarray, magnitude: float, sign: float) -> dict[str, np.ndarray]:
        sizes = (img.shape[1], img.shape[0])
        whole = [math.trunc(bin_value_scalar(0.0, MAX_FRACTION * size, float(magnitude))) for size in sizes]
        return {
            "shift": (sign * np.array(whole, dtype=np.float64) * np.array(axis_weights(self.axis))).astype(np.float32)
        }

    def matrix_from_params_image(self, params, height, width):
        return matrices.translation_image(*np.asarray(params["shift"], dtype=np.float64).reshape(2))


TranslateImage = image_backend(Translate)

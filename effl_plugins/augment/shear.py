"""Shear: slant each image along x, y or both by its own shear factor (a parallelogram: an affine map).

A factor ``s`` along x reads the input at ``(x + s * (y - cy), y)`` for the output pixel ``(x, y)``:
PIL's ``(1, s, 0, 0, 1, 0)`` and torchvision's ``affine(shear=[degrees(atan(s)), 0], center=[0, 0])``,
the RandAugment ``shear_x``. By default the fixed point is the image's top-left corner as there
(``center="corner"``, pixel-centre coordinate ``-0.5``); ``center="image"`` shears about the centre.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._validate import choice
from .auto.magnitude import LEVEL_TO_ARG
from .base import bernoulli, image_backend, uniform
from .functional import matrices
from .geometric import GeometricAugmentation, axis_weights, check_axis, check_range

__all__ = ["Shear", "ShearImage", "shear_matrix"]

#: RandAugment's largest shear factor (magnitude 1 = M 30).
MAX_FACTOR = LEVEL_TO_ARG["shear_x"].top
CENTERS = ("corner", "image")


def shear_matrix(factors: torch.Tensor, height: int, width: int, center: str = "corner") -> torch.Tensor:
    """``[B, 3, 3]`` shears by ``factors`` ``[B, 2]`` = ``(sx, sy)`` about the corner or the image centre."""
    cx, cy = (-0.5, -0.5) if center == "corner" else ((width - 1) / 2, (height - 1) / 2)
    return matrices.about(matrices.shear(factors[:, 0], factors[:, 1]), cx, cy)


class Shear(GeometricAugmentation):
    """Per-sample shear.

    Args:
        max_factor: factor range: ``s`` means ``U(-s, s)``, or a ``(low, high)`` pair (``tan`` of the shear angle).
        axis: ``"x"``, ``"y"`` or ``"both"`` (independent factors, x sheared first).
        center: ``"corner"`` (RandAugment's, default) or ``"image"``.
        interpolation, fill, p: see :class:`~effl_plugins.augment.geometric.GeometricAugmentation`.

    ``backend="image"``: ``cv2.warpAffine``; params ``{"shear": (sx, sy)}``.

    Shape:
        ``[B, C, H, W]`` -> same. params: ``shear`` ``[B, 2]`` = ``(sx, sy)`` factors.

    Example:
        >>> aug = Shear(axis="x")
        >>> y, _ = aug(torch.full((2, 3, 8, 8), 200, dtype=torch.uint8), generator=torch.Generator().manual_seed(0))
        >>> y.shape, y.dtype
        (torch.Size([2, 3, 8, 8]), torch.uint8)
    """

    signed = True

    def __init__(
        self,
        max_factor: float | tuple[float, float] = 0.3,
        axis: str = "x",
        center: str = "corner",
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        p: float = 1.0,
        *,
        backend: str = "batch",
    ):
        super().__init__(interpolation, fill, p, backend=backend)
        self.max_factor = check_range(max_factor, "max_factor")
        self.axis = check_axis(axis)
        self.center = choice(center, "center", CENTERS)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        factors = uniform((batch, 2), *self.max_factor, device, generator) * torch.tensor(
            axis_weights(self.axis), device=device
        )
        return {"shear": factors * bernoulli((batch, 1), self.p, device, generator)}

    def params_from_magnitude(self, images, magnitude, sign):
        """RandAugment's shear: factor ``sign * 0.3 * magnitude`` (magnitude ``[B]`` = M / 30)."""
        amount = (sign * MAX_FACTOR * magnitude).to(torch.float32).unsqueeze(-1)
        return {"shear": amount * torch.tensor(axis_weights(self.axis), device=images.device)}

    def matrix_from_params(self, params, height, width):
        return shear_matrix(params["shear"], height, width, self.center)

    def sample_params_image(self, img, rng):
        factors = rng.uniform(*self.max_factor, size=2) * np.array(axis_weights(self.axis))
        return {"shear": (factors * (rng.random() < self.p)).astype(np.float32)}

    def params_from_magnitude_image(self, img: np.ndarray, magnitude: float, sign: float) -> dict[str, np.ndarray]:
        return {"shear": (sign * MAX_FACTOR * magnitude * np.array(axis_weights(self.axis))).astype(np.float32)}

    def matrix_from_params_image(self, params, height, width):
        sx, sy = np.asarray(params["shear"], dtype=np.float64).reshape(2)
        cx, cy = (-0.5, -0.5) if self.center == "corner" else ((width - 1) / 2, (height - 1) / 2)
        return matrices.about_image(matrices.shear_image(sx, sy), cx, cy)


ShearImage = image_backend(Shear)

"""Rotate: turn each image about its centre ``((W-1)/2, (H-1)/2)`` by its own angle (degrees, counter-clockwise,
as :mod:`.functional.matrices`); the canvas keeps its size and uncovered corners take ``fill``. With
``angles=(0, 90, 180, 270)`` a square image is turned pixel for pixel (``torch.rot90``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._validate import is_number
from .auto.magnitude import LEVEL_TO_ARG
from .base import bernoulli, image_backend, uniform
from .functional import matrices
from .geometric import GeometricAugmentation, check_range

__all__ = ["Rotate", "RotateImage", "rotate_matrix"]

#: RandAugment's largest rotation (magnitude 1 = M 30 of torchvision's 31 bins).
MAX_DEGREES = LEVEL_TO_ARG["rotate"].top


def rotate_matrix(angle: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[B, 3, 3]`` counter-clockwise rotations by ``angle`` degrees ``[B]`` about the image centre."""
    return matrices.about(matrices.rotation(angle), (width - 1) / 2, (height - 1) / 2)


def _check_angles(angles: Any) -> tuple[float, ...] | None:
    if angles is None:
        return None
    if not isinstance(angles, (list, tuple)) or not angles or not all(is_number(a) for a in angles):
        raise ValueError(f"angles must be None or a non-empty sequence of angles in degrees, got {angles!r}")
    return tuple(float(a) for a in angles)


class Rotate(GeometricAugmentation):
    """Per-sample rotation by an angle drawn from ``degrees`` (or chosen among ``angles``).

    Args:
        degrees: angle range: ``d`` means ``U(-d, d)``, or a ``(low, high)`` pair.
        angles: if given, each sample picks one of these angles uniformly (e.g. ``(0, 90, 180, 270)``).
        interpolation: ``"nearest"`` (default, exact on uint8) or ``"bilinear"`` (float inside, uint8 rounded back).
        fill: value of the uncovered corners (image units). p: probability of rotating a sample.

    ``backend="image"``: ``cv2.warpAffine`` with the same matrix; params ``{"angle": float}``.

    Shape:
        ``[B, C, H, W]`` -> same. params: ``angle`` ``[B]`` degrees (0 where not applied).

    Example:
        >>> aug = Rotate(angles=(90,))
        >>> x = torch.arange(9, dtype=torch.uint8).view(1, 1, 3, 3)
        >>> torch.equal(aug(x, generator=torch.Generator().manual_seed(0))[0], torch.rot90(x, 1, (-2, -1)))
        True
    """

    signed = True

    def __init__(
        self,
        degrees: float | tuple[float, float] = 30.0,
        angles: Sequence[float] | None = None,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        p: float = 1.0,
        *,
        backend: str = "batch",
    ):
        super().__init__(interpolation, fill, p, backend=backend)
        self.degrees = check_range(degrees, "degrees")
        self.angles = _check_angles(angles)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        if self.angles is None:
            angle = uniform((batch,), *self.degrees, device, generator)
        else:
            choice = (
                (uniform((batch,), 0.0, 1.0, device, generator) * len(self.angles))
                .long()
                .clamp_(max=len(self.angles) - 1)
            )
            angle = torch.tensor(self.angles, dtype=torch.float32, device=device)[choice]
        return {"angle": angle * bernoulli((batch,), self.p, device, generator)}

    def params_from_magnitude(self, images, magnitude, sign):
        """RandAugment's rotation: ``sign * 30 * magnitude`` degrees (magnitude ``[B]`` in [0, 1] = M / 30)."""
        return {"angle": (sign * MAX_DEGREES * magnitude).to(torch.float32)}

    def matrix_from_params(self, params, height, width):
        return rotate_matrix(params["angle"], height, width)

    def sample_params_image(self, img, rng):
        angle = rng.uniform(*self.degrees) if self.angles is None else self.angles[rng.integers(len(self.angles))]
        return {"angle": float(angle) * (rng.random() < self.p)}

    def params_from_magnitude_image(self, img: np.ndarray, magnitude: float, sign: float) -> dict[str, float]:
        return {"angle": float(sign * MAX_DEGREES * magnitude)}

    def matrix_from_params_image(self, params, height, width):
        return matrices.about_image(matrices.rotation_image(params["angle"]), (width - 1) / 2, (height - 1) / 2)


RotateImage = image_backend(Rotate)

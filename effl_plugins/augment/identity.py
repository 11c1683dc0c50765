"""Identity: the image unchanged (RandAugment's "do nothing" op, torchvision's ``Identity``)."""

from __future__ import annotations

from .auto.magnitude import check_magnitude, check_magnitudes
from .base import Augmentation, image_backend

__all__ = ["Identity", "IdentityImage"]


class Identity(Augmentation):
    """Returns the input batch itself (no copy); it has no parameters and no randomness.

    ``backend="image"``: a copy of the image (callers may edit the result freely).

    Shape:
        images ``[B, C, H, W]`` -> the same tensor. params: none (``{}``).

    Example:
        >>> import torch
        >>> x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
        >>> Identity()(x)[0] is x
        True
    """

    point_op = True
    deterministic = True
    signed = False

    def sample_params(self, images, generator=None):
        return {}

    def params_from_magnitude(self, images, magnitude, sign):
        check_magnitudes(images, magnitude, sign)
        return {}

    def apply(self, images, targets, params):
        return images, targets

    def sample_params_image(self, img, rng):
        return {}

    def params_from_magnitude_image(self, img, magnitude, sign=1):
        check_magnitude(magnitude, sign)
        return {}

    def apply_image(self, img, params):
        return img.copy()


IdentityImage = image_backend(Identity)

"""The coin ops: ops with no magnitude (invert, equalize, auto_contrast), each sample changed or left as it is by a
coin ``applied`` that comes up with probability p; with ``p`` of 0 or 1 they are ``deterministic``.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import probability
from .auto.magnitude import check_magnitude, check_magnitudes
from .base import Augmentation, bernoulli

__all__ = ["Applied"]


class Applied(Augmentation):
    """Base of the ops with no magnitude: ``transform(images, applied)`` maps the whole batch, ``transform_image(img)``
    one image.

    Args:
        p: probability that a sample is changed.
        backend: ``"batch"`` or ``"image"``.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``applied`` ``[B]`` bool (one image: a bool).
    """

    signed = False

    def __init__(self, p: float = 0.5, *, backend: str = "batch"):
        super().__init__(backend)
        self.p = probability(p)

    @property
    def deterministic(self) -> bool:
        return self.p in (0.0, 1.0)

    def sample_params(self, images, generator=None):
        return {"applied": bernoulli((images.shape[0],), self.p, images.device, generator)}

    def params_from_magnitude(self, images, magnitude, sign):
        """The op at full strength on every sample: it has no magnitude."""
        check_magnitudes(images, magnitude, sign)
        return {"applied": torch.ones(images.shape[0], dtype=torch.bool, device=images.device)}

    def apply(self, images, targets, params):
        return self.transform(images, params["applied"].to(torch.bool)), targets

    def transform(self, images: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample_params_image(self, img, rng):
        return {"applied": bool(rng.random() < self.p)}

    def params_from_magnitude_image(self, img, magnitude, sign=1):
        check_magnitude(magnitude, sign)
        return {"applied": True}

    def apply_image(self, img, params):
        return self.transform_image(img) if bool(params["applied"]) else img.copy()

    def transform_image(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError

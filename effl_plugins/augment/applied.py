"""Ops with no magnitude (invert, equalize, auto_contrast): each sample is changed with probability p.

Their only randomness is the per-sample coin ``applied`` ``[B]``; the op is computed for the
whole batch and kept where the coin says so (no Python loop, no host sync). With ``p`` of 0 or 1
there is no randomness left and ``deterministic`` says so.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import probability
from .auto.magnitude import check_magnitude, check_magnitudes
from .base import BatchAugmentation, ImageAugmentation, bernoulli

__all__ = ["AppliedBatch", "AppliedImage"]


class AppliedBatch(BatchAugmentation):
    """Batch base: ``transform(images, applied)`` maps the whole batch.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``applied`` ``[B]`` bool.
    """

    signed = False

    def __init__(self, p: float = 0.5):
        super().__init__()
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


class AppliedImage(ImageAugmentation):
    """Image base: ``transform(img)`` on one image; params ``applied`` (bool)."""

    signed = False

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = probability(p)

    def sample_params(self, img, rng):
        return {"applied": bool(rng.random() < self.p)}

    def params_from_magnitude(self, img, magnitude, sign=1):
        check_magnitude(magnitude, sign)
        return {"applied": True}

    def apply(self, img, params):
        return self.transform(img) if bool(params["applied"]) else img.copy()

    def transform(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError

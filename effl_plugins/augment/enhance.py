"""The base of the enhance ops (contrast, color, sharpness): a per-sample factor ~ U(1 - max_delta, 1 + max_delta)
or from a RandAugment magnitude, and the arguments both backends share, checked once. The blends themselves
(``out = factor * image + (1 - factor) * degenerate``) are :mod:`.functional.enhance`'s."""

from __future__ import annotations

import numpy as np
import torch

from .._validate import fraction, probability
from .auto.magnitude import check_magnitude, check_magnitudes, enhance_factor
from .base import Augmentation, _sampling_device, bernoulli, uniform

__all__ = ["Enhance"]


class Enhance(Augmentation):
    """Base of the enhance ops: per-sample factor ~ U(1 - max_delta, 1 + max_delta), applied with probability p;
    subclasses give ``apply`` and ``apply_image``.

    Args:
        max_delta: half-width of the factor range, in [0, 1].
        p: probability that a sample is changed at all.
        backend: ``"batch"`` or ``"image"`` (params: ``factor``, a float).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``factor`` ``[B]`` float32 (1 where the
        sample is left unchanged).
    """

    chunked = True

    signed = True

    def __init__(self, max_delta: float = 0.4, p: float = 1.0, *, backend: str = "batch"):
        super().__init__(backend)
        self.max_delta = fraction(max_delta, "max_delta", note="factor ~ U(1 - max_delta, 1 + max_delta)")
        self.p = probability(p)

    def sample_params(self, images, generator=None):
        batch = images.shape[0]
        factor = uniform((batch,), 1 - self.max_delta, 1 + self.max_delta, images.device, generator)
        if self.p == 1.0:  # every coin comes up (a uniform draw is below 1); its draw is made all the same, as
            # bernoulli's, so that the generator moves on as it would
            torch.rand((batch,), generator=generator, device=_sampling_device(images.device, generator))
            return {"factor": factor}
        applied = bernoulli((batch,), self.p, images.device, generator)
        return {"factor": torch.where(applied, factor, 1.0)}

    def params_from_magnitude(self, images, magnitude, sign):
        magnitude, sign = check_magnitudes(images, magnitude, sign)
        # float64 like the image backend's Python floats, so both give the same float32 factor
        return {"factor": enhance_factor(magnitude.double(), sign.double()).float()}

    def sample_params_image(self, img, rng):
        factor = rng.uniform(1 - self.max_delta, 1 + self.max_delta)
        applied = rng.random() < self.p
        return {"factor": np.float32(factor if applied else 1.0)}

    def params_from_magnitude_image(self, img, magnitude, sign=1):
        magnitude, sign = check_magnitude(magnitude, sign)
        return {"factor": np.float32(enhance_factor(magnitude, sign))}

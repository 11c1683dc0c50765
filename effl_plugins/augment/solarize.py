"""Solarize: invert every value at or above a threshold (PIL ``ImageOps.solarize``,
``torchvision.transforms.v2.functional.solarize``).

The threshold is a fraction of the value range (``255 * threshold`` on uint8, the value itself
on float images); a value ``x`` becomes ``max - x`` when ``x >= threshold * max``. On uint8 both backends
invert from torchvision's level :func:`solarize_level` on.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import is_number, probability
from .auto.magnitude import LEVEL_TO_ARG, bin_value, bin_value_scalar, check_magnitude, check_magnitudes
from .base import Augmentation, bernoulli, image_backend, uniform
from .functional.lut import apply_lut_image
from .invert import invert
from .kernels.sample_tables import translate_samples

__all__ = ["Solarize", "SolarizeImage", "check_threshold"]

_LEVEL = LEVEL_TO_ARG["solarize"]


def check_threshold(threshold) -> tuple[float, float]:
    """``threshold`` as a range ``(low, high)`` of fractions in [0, 1]; a number is a fixed value."""
    pair = (threshold, threshold) if is_number(threshold) else threshold
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(is_number(t) and 0.0 <= t <= 1.0 for t in pair)
        or pair[0] > pair[1]
    ):
        raise ValueError(
            "threshold must be a fraction in [0, 1] or a range (low, high) with 0 <= low <= high <= 1, got "
            f"{threshold!r}"
        )
    return float(pair[0]), float(pair[1])


def solarize_level(threshold: torch.Tensor) -> torch.Tensor:
    """The smallest uint8 value that solarize inverts: ``ceil(float32(255 * threshold))`` (float64 product,
    rounded to float32 as torchvision's comparison does), in 0..256 (256: none). Shape: ``[B]`` -> ``[B]`` float64."""
    return torch.ceil((threshold.double() * 255).float()).double().clamp_(0, 256)


def solarize_level_image(threshold: float) -> int:
    """:func:`solarize_level` of one threshold (the image backend)."""
    return min(max(math.ceil(np.float32(float(np.float32(threshold)) * 255)), 0), 256)


def solarize_tables(threshold: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
    """Each sample's uint8 solarize as a table: ``v -> 255 - v`` from :func:`solarize_level` on where ``applied``,
    the identity elsewhere. Shape: ``[B]``, ``[B]`` -> ``[B, 256]`` uint8."""
    ramp = torch.arange(256, dtype=torch.float64, device=threshold.device)
    hit = (ramp >= solarize_level(threshold).view(-1, 1)) & applied.view(-1, 1)
    return torch.where(hit, 255 - ramp, ramp).to(torch.uint8)


def solarize(images: torch.Tensor, threshold: torch.Tensor, applied: torch.Tensor) -> torch.Tensor:
    """Solarize each sample at its own ``threshold`` ``[B]`` (fraction of range) where ``applied`` ``[B]``."""
    if images.dtype == torch.uint8 and images.device.type == "cpu" and images.is_contiguous():
        return translate_samples(images, solarize_tables(threshold, applied).expand(images.shape[0], 256))
    applied = applied.view(-1, 1, 1, 1)
    if images.dtype == torch.uint8:
        level = solarize_level(threshold).view(-1, 1, 1, 1)
        reachable = applied & (level <= 255)
        hit = (images >= level.clamp(max=255).to(torch.uint8)) & reachable
    else:
        hit = (images >= threshold.to(images.dtype).view(-1, 1, 1, 1)) & applied
    return torch.where(hit, invert(images), images)


class Solarize(Augmentation):
    """Per-sample random solarize, threshold ~ U(low, high) (fractions of the value range).

    Args:
        threshold: a fraction in [0, 1] or a range ``(low, high)``; 1.0 inverts only the maximum value.
        p: probability that a sample is changed at all.
        backend: ``"batch"`` or ``"image"`` (a lookup table on one image; params ``threshold`` float, ``applied``).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``threshold`` ``[B]`` float32,
        ``applied`` ``[B]`` bool.

    Example:
        >>> x = torch.tensor([0, 100, 128, 255], dtype=torch.uint8).view(1, 1, 1, 4).expand(1, 3, 1, 4)
        >>> y, _ = Solarize()(x, params={"threshold": torch.tensor([0.5]), "applied": torch.tensor([True])})
        >>> y[0, 0, 0].tolist()
        [0, 100, 127, 0]
    """

    point_op = True
    signed = False

    def __init__(self, threshold: float | tuple[float, float] = (0.5, 1.0), p: float = 1.0, *, backend="batch"):
        super().__init__(backend)
        self.threshold = check_threshold(threshold)
        self.p = probability(p)

    def sample_params(self, images, generator=None):
        batch = images.shape[0]
        threshold = uniform((batch,), self.threshold[0], self.threshold[1], images.device, generator)
        return {"threshold": threshold, "applied": bernoulli((batch,), self.p, images.device, generator)}

    def params_from_magnitude(self, images, magnitude, sign):
        magnitude, _ = check_magnitudes(images, magnitude, sign)
        threshold = bin_value(_LEVEL.start, _LEVEL.top, magnitude)
        return {"threshold": threshold, "applied": torch.ones_like(threshold, dtype=torch.bool)}

    def apply(self, images, targets, params):
        return solarize(images, params["threshold"], params["applied"].to(torch.bool)), targets

    def sample_params_image(self, img, rng):
        threshold = np.float32(rng.uniform(self.threshold[0], self.threshold[1]))
        return {"threshold": threshold, "applied": bool(rng.random() < self.p)}

    def params_from_magnitude_image(self, img, magnitude, sign=1):
        magnitude, _ = check_magnitude(magnitude, sign)
        return {"threshold": np.float32(bin_value_scalar(_LEVEL.start, _LEVEL.top, magnitude)), "applied": True}

    def apply_image(self, img, params):
        if not bool(params["applied"]):
            return img.copy()
        level = solarize_level_image(params["threshold"])
        ramp = np.arange(256, dtype=np.int32)
        return apply_lut_image(img, np.where(ramp >= level, 255 - ramp, ramp).astype(np.uint8))


SolarizeImage = image_backend(Solarize)

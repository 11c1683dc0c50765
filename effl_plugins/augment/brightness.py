"""Brightness: shift or scale each image's values, clipped to the valid range.

``mode="add"`` (default) shifts: ``img[..., c] + delta_c``, values above 255
saturate at 255, never wrap around. ``max_delta`` is a fraction of the full range (1.0 for float
images, 255 for uint8, where the delta is rounded to an integer so both backends give identical
pixels).

``mode="factor"`` multiplies like PIL ``ImageEnhance.Brightness`` and
``torchvision.transforms.v2.functional.adjust_brightness``: ``image * factor`` with
factor ~ U(1 - max_delta, 1 + max_delta), clipped, uint8 results truncated as torchvision does.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from .._validate import choice, fraction, probability
from .auto.magnitude import check_magnitude, check_magnitudes, enhance_factor
from .base import Augmentation, bernoulli, image_backend, uniform
from .functional.lut import apply_lut_image, image_channels, translate_bytes, truncate_to_uint8

__all__ = ["Brightness", "BrightnessImage"]

MODES = ("add", "factor")


class Brightness(Augmentation):
    """Per-sample (and per-channel) brightness, clipped to the valid range.

    Args:
        max_delta: ``"add"``: delta ~ U(-max_delta, max_delta), as a fraction of the value range;
            ``"factor"``: factor ~ U(1 - max_delta, 1 + max_delta).
        per_channel: an independent delta or factor for each channel, or one for all. Default:
            True for ``"add"``, False for ``"factor"`` (torchvision's way).
        p: probability that a sample is changed at all.
        mode: ``"add"`` or ``"factor"``.

    ``backend="image"``: a saturating ``cv2.add`` of the integer steps (add mode), lookup tables (factor mode). params:
    ``delta`` ``[C]`` (fraction of range) or ``factor`` ``[C]``.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``delta`` ``[B, C]`` (fraction of
        range) in add mode, ``factor`` ``[B, C]`` in factor mode; ``apply`` follows whichever it gets.

    Example:
        >>> aug = Brightness(max_delta=0.2)
        >>> x = torch.full((4, 3, 8, 8), 250, dtype=torch.uint8)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> int(y.max()) <= 255
        True
        >>> y, _ = Brightness(mode="factor")(x, params={"factor": torch.full((4, 3), 0.5)})
        >>> int(y[0, 0, 0, 0])
        125
    """

    point_op = True

    signed = True

    def __init__(
        self,
        max_delta: float = 0.25,
        per_channel: bool | None = None,
        p: float = 1.0,
        mode: str = "add",
        *,
        backend: str = "batch",
    ):
        super().__init__(backend)
        self.max_delta = fraction(max_delta, "max_delta", kind="a fraction of the value range")
        self.mode = choice(mode, "mode", MODES)
        self.per_channel = (mode == "add") if per_channel is None else bool(per_channel)
        self.p = probability(p)

    def sample_params(self, images, generator=None):
        batch, channels = images.shape[:2]
        delta = uniform(
            (batch, channels if self.per_channel else 1), -self.max_delta, self.max_delta, images.device, generator
        )
        applied = bernoulli((batch, 1), self.p, images.device, generator)
        delta = (delta * applied).expand(batch, channels).contiguous()
        return {"delta": delta} if self.mode == "add" else {"factor": 1 + delta}

    def params_from_magnitude(self, images, magnitude, sign):
        """torchvision RandAugment's brightness: factor ``1 + sign * 0.9 * magnitude``, one per sample."""
        magnitude, sign = check_magnitudes(images, magnitude, sign)
        factor = enhance_factor(magnitude.double(), sign.double()).float()
        return {"factor": factor[:, None].expand(images.shape[0], images.shape[1]).contiguous()}

    def apply(self, images, targets, params):
        if "factor" in params:
            return self._scale(images, params["factor"][:, :, None, None]), targets
        delta = params["delta"][:, :, None, None]
        if images.dtype == torch.uint8:
            shifted = images.to(torch.int16) + torch.round(delta * 255).to(torch.int16)
            return shifted.clamp_(0, 255).to(torch.uint8), targets
        return (images + delta.to(images.dtype)).clamp_(0.0, 1.0), targets

    @staticmethod
    def _scale(images, factor):
        if images.dtype == torch.uint8:
            return truncate_to_uint8(images.to(torch.float32) * factor.to(torch.float32))
        return (images * factor.to(images.dtype)).clamp_(0.0, 1.0)

    def sample_params_image(self, img, rng):
        channels = image_channels(img)
        delta = rng.uniform(-self.max_delta, self.max_delta, size=channels if self.per_channel else 1)
        applied = rng.random() < self.p
        delta = (delta * applied).astype(np.float32).repeat(channels // len(delta))
        return {"delta": delta} if self.mode == "add" else {"factor": np.float32(1) + delta}

    def params_from_magnitude_image(self, img, magnitude, sign=1):
        magnitude, sign = check_magnitude(magnitude, sign)
        return {"factor": np.full(image_channels(img), enhance_factor(magnitude, sign), dtype=np.float32)}

    def apply_image(self, img, params):
        if "factor" in params:
            factors = np.asarray(params["factor"], dtype=np.float32).reshape(-1).tolist()
            return apply_lut_image(img, np.stack([_factor_table(factor) for factor in factors]))
        steps = (
            np.round(np.asarray(params["delta"], dtype=np.float32).reshape(-1) * np.float32(255))
            .astype(np.int16)
            .tolist()
        )
        if len(set(steps)) == 1:  # one step for every channel: one byte table
            return translate_bytes(img, _step_table(steps[0]))
        steps = steps * (image_channels(img) // len(steps))  # per-channel steps: one saturating SIMD add, exact
        return cv2.add(img, tuple(float(v) for v in steps) + (0.0,) * (4 - len(steps))).reshape(img.shape)


@functools.lru_cache(maxsize=256)
def _factor_table(factor: float) -> np.ndarray:
    """``trunc(clip(v * factor, 0, 255))`` in float32 for every uint8 value ``v`` (read-only; ``factor``
    holds a float32 value, and RandAugment's factors repeat)."""
    table = np.clip(np.arange(256, dtype=np.float32) * np.float32(factor), 0, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


@functools.lru_cache(maxsize=512)
def _step_table(step: int) -> np.ndarray:
    """``clip(v + step, 0, 255)`` for every uint8 value ``v`` (read-only; one per integer step in -255..255)."""
    table = np.clip(np.arange(256, dtype=np.int16) + step, 0, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


BrightnessImage = image_backend(Brightness)

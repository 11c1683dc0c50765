"""Brightness: add a random delta to each channel and clip to the valid range (no wrap-around).

The seeds' recipe: ``img[..., c] + delta_c``, values above 255 saturate at 255. ``max_delta`` is a
fraction of the full range (1.0 for float images, 255 for uint8, where the delta is rounded to an
integer so both backends give identical pixels).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .base import BatchAugmentation, ImageAugmentation, bernoulli, check_probability, uniform

__all__ = ["Brightness", "BrightnessImage"]


def _check_max_delta(max_delta: float) -> float:
    if isinstance(max_delta, bool) or not isinstance(max_delta, (int, float)) or not 0.0 <= max_delta <= 1.0:
        raise ValueError(f"max_delta must be a fraction of the value range in [0, 1], got {max_delta!r}")
    return float(max_delta)


class Brightness(BatchAugmentation):
    """Per-sample (and per-channel) additive brightness, clipped to the valid range.

    Args:
        max_delta: delta ~ U(-max_delta, max_delta), as a fraction of the value range.
        per_channel: an independent delta for each channel (the seeds' way) or one for all.
        p: probability that a sample is changed at all.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``delta`` ``[B, C]`` (fraction of range).

    Example:
        >>> aug = Brightness(max_delta=0.2)
        >>> x = torch.full((4, 3, 8, 8), 250, dtype=torch.uint8)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> int(y.max()) <= 255
        True
    """

    def __init__(self, max_delta: float = 0.25, per_channel: bool = True, p: float = 1.0):
        super().__init__()
        self.max_delta = _check_max_delta(max_delta)
        self.per_channel = bool(per_channel)
        self.p = check_probability(p)

    def sample_params(self, images, generator=None):
        batch, channels = images.shape[:2]
        delta = uniform((batch, channels if self.per_channel else 1), -self.max_delta, self.max_delta, images.device, generator)
        applied = bernoulli((batch, 1), self.p, images.device, generator)
        return {"delta": (delta * applied).expand(batch, channels).contiguous()}

    def apply(self, images, targets, params):
        delta = params["delta"][:, :, None, None]
        if images.dtype == torch.uint8:
            shifted = images.to(torch.int16) + torch.round(delta * 255).to(torch.int16)
            return shifted.clamp_(0, 255).to(torch.uint8), targets
        return (images + delta.to(images.dtype)).clamp_(0.0, 1.0), targets


class BrightnessImage(ImageAugmentation):
    """Image backend of ``brightness``: a per-channel lookup table through ``cv2.LUT``.

    Same arguments as the batch backend; params: ``delta`` ``[C]`` (fraction of range).
    """

    def __init__(self, max_delta: float = 0.25, per_channel: bool = True, p: float = 1.0):
        super().__init__()
        self.max_delta = _check_max_delta(max_delta)
        self.per_channel = bool(per_channel)
        self.p = check_probability(p)

    def sample_params(self, img, rng):
        channels = 1 if img.ndim == 2 else img.shape[2]
        delta = rng.uniform(-self.max_delta, self.max_delta, size=channels if self.per_channel else 1)
        applied = rng.random() < self.p
        return {"delta": np.broadcast_to(delta * applied, (channels,)).astype(np.float32)}

    def apply(self, img, params):
        steps = np.round(np.asarray(params["delta"], dtype=np.float32) * 255).astype(np.int16)
        ramp = np.arange(256, dtype=np.int16)
        luts = np.clip(ramp[None, :] + steps[:, None], 0, 255).astype(np.uint8)  # [C, 256]
        if img.ndim == 2 or img.shape[2] == 1:
            return cv2.LUT(img, luts[0]).reshape(img.shape)
        return cv2.LUT(img, np.ascontiguousarray(luts.T[:, None, :]))

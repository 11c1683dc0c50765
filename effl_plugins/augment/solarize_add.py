"""SolarizeAdd: add an amount to every value below a threshold, saturating at the top (timm's ``solarize_add``,
the TPU EfficientNet AutoAugment op of Cubuk et al. 2019's ImageNet ``v0`` policy).

A uint8 value ``v < round(255 * threshold)`` becomes ``min(255, v + round(255 * add))``; a float value
``x < threshold`` becomes ``min(1, x + add)``. Values at or above the threshold are kept. timm's op is this
with ``threshold = 128 / 255`` and ``add = min(128, int(level / 10 * 110)) / 255``.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import fraction, probability
from .base import Augmentation, bernoulli, image_backend, uniform
from .functional.lut import apply_lut_image
from .solarize import check_threshold

__all__ = ["SolarizeAdd", "SolarizeAddImage", "solarize_add"]

#: timm's threshold (128 of 255) and its largest amount (110 of 255 at magnitude 10).
THRESHOLD = 128 / 255
MAX_ADD = 110 / 255


def solarize_add(images: torch.Tensor, add: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Each sample's values below its ``threshold`` ``[B]`` raised by its ``add`` ``[B]`` (fractions of the range).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same; add, threshold ``[B]``.
    """
    add, threshold = add.view(-1, 1, 1, 1), threshold.view(-1, 1, 1, 1)
    if images.dtype == torch.uint8:
        level = torch.round(threshold.double() * 255).to(torch.int16)
        raised = (images.to(torch.int16) + torch.round(add.double() * 255).to(torch.int16)).clamp_(0, 255)
        return torch.where(images.to(torch.int16) < level, raised, images.to(torch.int16)).to(torch.uint8)
    raised = (images + add.to(images.dtype)).clamp_(0.0, 1.0)
    return torch.where(images < threshold.to(images.dtype), raised, images)


def _pair(value, name: str) -> tuple[float, float]:
    pair = (value, value) if not isinstance(value, (list, tuple)) else value
    if len(pair) != 2:
        raise ValueError(f"{name} must be a fraction in [0, 1] or a range (low, high) of them, got {value!r}")
    low, high = (fraction(v, name, note="a fraction of the value range, or a (low, high) range") for v in pair)
    if low > high:
        raise ValueError(f"{name} must be a range (low, high) with low <= high, got {value!r}")
    return low, high


class SolarizeAdd(Augmentation):
    """Per-sample SolarizeAdd, the amount ~ U(add) (fractions of the value range).

    Args:
        add: an amount or a range ``(low, high)``, fractions of the value range (default timm's 0..110 of 255).
        threshold: values below it change (a fraction or a range; default timm's 128 of 255).
        p: probability that a sample is changed at all.

    ``backend="image"``: a lookup table; params ``add``, ``threshold`` (floats).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``add`` ``[B]`` float32 (0 where not applied),
        ``threshold`` ``[B]`` float32.

    Example:
        >>> x = torch.tensor([0, 100, 127, 128, 250], dtype=torch.uint8).view(1, 1, 1, 5)
        >>> y, _ = SolarizeAdd()(x, params={"add": torch.tensor([30 / 255]), "threshold": torch.tensor([128 / 255])})
        >>> y.flatten().tolist()
        [30, 130, 157, 128, 250]
    """

    point_op = True

    signed = False

    def __init__(
        self,
        add: float | tuple[float, float] = (0.0, MAX_ADD),
        threshold: float = THRESHOLD,
        p: float = 1.0,
        *,
        backend: str = "batch",
    ):
        super().__init__(backend)
        self.add = _pair(add, "add")
        self.threshold = check_threshold(threshold)
        self.p = probability(p)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        add = uniform((batch,), *self.add, device, generator) * bernoulli((batch,), self.p, device, generator)
        return {"add": add, "threshold": uniform((batch,), *self.threshold, device, generator)}

    def apply(self, images, targets, params):
        return solarize_add(images, params["add"], params["threshold"]), targets

    def sample_params_image(self, img, rng):
        add = float(np.float32(rng.uniform(*self.add))) * (rng.random() < self.p)
        return {"add": add, "threshold": float(np.float32(rng.uniform(*self.threshold)))}

    def apply_image(self, img, params):
        ramp = torch.arange(256, dtype=torch.uint8).view(1, 1, 1, 256)
        add = torch.tensor([params["add"]], dtype=torch.float32)
        table = solarize_add(ramp, add, torch.tensor([params["threshold"]], dtype=torch.float32))
        return apply_lut_image(img, table.flatten().numpy())


SolarizeAddImage = image_backend(SolarizeAdd)

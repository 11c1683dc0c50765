"""Posterize: keep only the top ``bits`` bits of each value (PIL ``ImageOps.posterize``,
``torchvision.transforms.v2.functional.posterize``).

uint8: ``x & (0xFF << (8 - bits))``, pure integer work. Float images in [0, 1] are quantized to
``2**bits`` levels, ``floor(x * 2**bits) / 2**bits`` clipped to the top level, as torchvision does,
except that ``bits = 8`` leaves every image unchanged (torchvision maps a float 1.0 to 255/256).
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import is_number, probability
from .auto.magnitude import check_magnitude, check_magnitudes, posterize_bits
from .base import Augmentation, bernoulli, image_backend

__all__ = ["Posterize", "PosterizeImage", "check_bits"]


def check_bits(bits) -> tuple[int, int]:
    """``bits`` as an inclusive range ``(low, high)`` within 1..8; an int is a fixed value."""
    pair = (bits, bits) if is_number(bits) and isinstance(bits, int) else bits
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(is_number(b) and isinstance(b, int) and 1 <= b <= 8 for b in pair)
        or pair[0] > pair[1]
    ):
        raise ValueError(f"bits must be an int in 1..8 or a range (low, high) with 1 <= low <= high <= 8, got {bits!r}")
    return int(pair[0]), int(pair[1])


def posterize(images: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Posterize each sample with its own ``bits`` ``[B]`` (int, 1..8)."""
    bits = bits.view(-1, 1, 1, 1)
    if images.dtype == torch.uint8:
        mask = torch.bitwise_left_shift(torch.full_like(bits, 0xFF), 8 - bits).bitwise_and_(0xFF)
        return images & mask.to(torch.uint8)
    levels = torch.pow(2.0, bits.to(images.dtype))
    quantized = (images * levels).floor_()
    torch.minimum(quantized, levels - 1, out=quantized)
    quantized.div_(levels)
    kept = bits >= 8
    if images.device.type == "cpu" and not bool(kept.any()):  # a host read only where it costs no sync
        return quantized
    return torch.where(kept, images, quantized)


class Posterize(Augmentation):
    """Per-sample random posterize, bits ~ uniform integer in ``bits`` (inclusive).

    Args:
        bits: an int in 1..8 or an inclusive range ``(low, high)``; 8 keeps the image.
        p: probability that a sample is changed at all.

    ``backend="image"``: NumPy bitwise and; params ``bits`` (int).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``bits`` ``[B]`` int64 (8 = unchanged).

    Example:
        >>> x = torch.tensor([0, 37, 200, 255], dtype=torch.uint8).view(1, 1, 1, 4).expand(2, 3, 1, 4)
        >>> y, _ = Posterize()(x, params={"bits": torch.tensor([2, 8])})
        >>> y[0, 0, 0].tolist(), y[1, 0, 0].tolist()
        ([0, 0, 192, 192], [0, 37, 200, 255])
    """

    point_op = True

    signed = False

    def __init__(self, bits: int | tuple[int, int] = (4, 8), p: float = 1.0, *, backend: str = "batch"):
        super().__init__(backend)
        self.bits = check_bits(bits)
        self.p = probability(p)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        sampling = generator.device if generator is not None else device
        bits = torch.randint(self.bits[0], self.bits[1] + 1, (batch,), generator=generator, device=sampling).to(device)
        applied = bernoulli((batch,), self.p, device, generator)
        return {"bits": torch.where(applied, bits, torch.full_like(bits, 8))}

    def params_from_magnitude(self, images, magnitude, sign):
        magnitude, _ = check_magnitudes(images, magnitude, sign)
        return {"bits": posterize_bits(magnitude)}

    def apply(self, images, targets, params):
        return posterize(images, params["bits"].long()), targets

    def sample_params_image(self, img, rng):
        bits = int(rng.integers(self.bits[0], self.bits[1] + 1))
        return {"bits": bits if rng.random() < self.p else 8}

    def params_from_magnitude_image(self, img, magnitude, sign=1):
        magnitude, _ = check_magnitude(magnitude, sign)
        return {"bits": posterize_bits(magnitude)}

    def apply_image(self, img, params):
        bits = int(params["bits"])
        return np.bitwise_and(img, np.uint8((0xFF << (8 - bits)) & 0xFF))


PosterizeImage = image_backend(Posterize)

"""RandomResizedCrop: a box of random area and aspect ratio, resized to the output size (Inception's crop).

Szegedy et al., "Going Deeper with Convolutions" (2015); the sampler of torchvision's and timm's
``RandomResizedCrop``: up to ten tries of area ``U(scale) * H * W`` and log-uniform aspect ratio in
``ratio``, the first box that fits wins, otherwise the centred box of the clamped ratio. The batch
backend runs the ten tries of every sample at once as a ``[B, 10]`` tensor. Resizing as :mod:`.crop`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .base import Augmentation, image_backend, uniform
from .crop import Crop, _axis_coordinates, check_size, crop_image, resample_boxes
from .functional.warp import check_interpolation
from .geometric import check_range
from .kernels.separable import separable_resample

__all__ = ["RandomResizedCrop", "RandomResizedCropImage", "sample_box_image"]

ATTEMPTS = 10


def _check_pair(value: Any, name: str) -> tuple[float, float]:
    low, high = check_range(value, name, symmetric=False)
    if low <= 0:
        raise ValueError(f"{name} must be a (low, high) pair with 0 < low <= high, got {value!r}")
    return low, high


def _fallback_box(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int]:
    """torchvision's last resort: the whole image, its aspect ratio clamped into ``ratio``."""
    in_ratio = width / height
    if in_ratio < ratio[0]:
        return round(width / ratio[0]), width
    if in_ratio > ratio[1]:
        return height, round(height * ratio[1])
    return height, width


@functools.lru_cache(maxsize=64)
def _fallback_tensor(height: int, width: int, ratio: tuple[float, float], device: torch.device) -> torch.Tensor:
    """:func:`_fallback_box` centred, as a ``[4]`` float32 ``(top, left, h, w)`` (made once; read, never written)."""
    box_h, box_w = _fallback_box(height, width, ratio)
    return torch.tensor([(height - box_h) // 2, (width - box_w) // 2, box_h, box_w], dtype=torch.float32, device=device)


def sample_box_image(
    height: int, width: int, scale: Sequence[float], ratio: Sequence[float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """One image's box ``(top, left, h, w)`` by the sampler above (timm's ``RandomResizedCropAndInterpolation``),
    except that a box that rounds to zero pixels counts as a miss (timm would crop nothing)."""
    for _ in range(ATTEMPTS):
        area = rng.uniform(scale[0], scale[1]) * (height * width)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        box_w, box_h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < box_w <= width and 0 < box_h <= height:
            return int(rng.integers(0, height - box_h + 1)), int(rng.integers(0, width - box_w + 1)), box_h, box_w
    box_h, box_w = _fallback_box(height, width, ratio)
    return (height - box_h) // 2, (width - box_w) // 2, box_h, box_w


def _resize_on_cpu(
    images: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], interpolation: str
) -> torch.Tensor | None:
    """:func:`.crop.resample_boxes`'s result by :mod:`.kernels.separable`, ``None`` where that does not apply."""
    top, left, height, width = boxes.to(torch.float32).numpy().T
    src_y = _axis_coordinates(top, height, size[0], interpolation)
    src_x = _axis_coordinates(left, width, size[1], interpolation)
    return separable_resample(images, src_x, src_y, interpolation)


class RandomResizedCrop(Augmentation):
    """Per-sample random-resized crop.

    Args:
        size: output ``(h, w)`` (or ``n``); ``None`` keeps the input size.
        scale: box area range as a fraction of the image area, ``0 < low <= high``.
        ratio: aspect ratio (width / height) range, sampled log-uniformly.
        interpolation: ``"bilinear"`` (default, float inside, uint8 rounded back) or ``"nearest"``.

    ``backend="image"``: slicing and ``cv2.resize``; params ``{"box": (top, left, h, w)}``.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, *size]``. params: ``box`` ``[B, 4]`` = (top, left, h, w) pixels.

    Example:
        >>> aug = RandomResizedCrop(size=16)
        >>> y, _ = aug(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), generator=torch.Generator().manual_seed(0))
        >>> tuple(y.shape)
        (4, 3, 16, 16)
    """

    chunked = True

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: str = "bilinear",
        *,
        backend: str = "batch",
    ):
        super().__init__(backend)
        self.size = check_size(size)
        self.scale = _check_pair(scale, "scale")
        self.ratio = _check_pair(ratio, "ratio")
        self.interpolation = check_interpolation(interpolation)

    _out_size = Crop._out_size
    matrix_from_params = Crop.matrix_from_params

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        height, width = images.shape[-2:]
        # one draw of what three ``uniform`` calls draw in turn ([B, 10] areas, [B, 10] aspects, [B, 2] corners):
        # the generator gives the same values
        draws = uniform((batch * (2 * ATTEMPTS + 2),), 0.0, 1.0, device, generator)
        tries = draws[: 2 * batch * ATTEMPTS].view(2, batch, ATTEMPTS)
        (low, high), (log_low, log_high) = self.scale, (math.log(self.ratio[0]), math.log(self.ratio[1]))
        area = (low + (high - low) * tries[0]) * (height * width)
        aspect = torch.exp(log_low + (log_high - log_low) * tries[1])
        box_w = torch.round(torch.sqrt(area * aspect))
        box_h = torch.round(torch.sqrt(area / aspect))
        fits = (box_w > 0) & (box_w <= width) & (box_h > 0) & (box_h <= height)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # first try that fits (0 if none)
        box_h, box_w = box_h.gather(1, first).squeeze(1), box_w.gather(1, first).squeeze(1)
        corner = draws[2 * batch * ATTEMPTS :].view(batch, 2)
        top = torch.minimum(torch.floor(corner[:, 0] * (height - box_h + 1)), height - box_h)
        left = torch.minimum(torch.floor(corner[:, 1] * (width - box_w + 1)), width - box_w)
        fallback = _fallback_tensor(height, width, self.ratio, device)
        box = torch.stack([top, left, box_h, box_w], -1)
        return {"box": torch.where(fits.any(dim=1, keepdim=True), box, fallback)}

    def _apply_in_chunks(self, images, targets, params):
        """The whole batch where the separable path applies (it works in cache-sized pieces of its own), else
        :func:`.crop.resample_boxes` in chunks, the separable path not asked again for each."""
        resized = _resize_on_cpu(images, params["box"], self._out_size(*images.shape[-2:]), self.interpolation)
        if resized is not None:
            return resized, targets
        return super()._apply_in_chunks(images, targets, params, self._resample_boxes)

    def apply(self, images, targets, params):
        if images.device.type == "cpu":
            resized = _resize_on_cpu(images, params["box"], self._out_size(*images.shape[-2:]), self.interpolation)
            if resized is not None:
                return resized, targets
        return self._resample_boxes(images, targets, params)

    def _resample_boxes(self, images, targets, params):
        out_size = self._out_size(*images.shape[-2:])
        return resample_boxes(images, params["box"], out_size, self.interpolation), targets

    def sample_params_image(self, img, rng):
        return {"box": np.array(self.box_image(img.shape[0], img.shape[1], rng), dtype=np.float32)}

    def box_image(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """One image's box ``(top, left, h, w)`` (:func:`sample_box_image` with this op's ranges)."""
        return sample_box_image(height, width, self.scale, self.ratio, rng)

    def apply_image(self, img, params):
        return crop_image(img, params["box"], self._out_size(*img.shape[:2]), self.interpolation)


RandomResizedCropImage = image_backend(RandomResizedCrop)

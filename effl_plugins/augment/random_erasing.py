"""Random Erasing (Zhong et al. 2020, "Random Erasing Data Augmentation"), as timm's
``timm.data.random_erasing.RandomErasing``: each image, with probability ``p``, gets ``count`` rectangles
(``min_count..max_count``, uniform) replaced by other values.

A rectangle's area is ``U(scale) * H * W / count`` and its aspect ratio ``exp(U(log ratio))``; its height
and width are those rounded (half to even, as Python's ``round``); up to 10 draws are made until it fits
strictly inside the image (``h < H`` and ``w < W``), and none is erased when no draw fits; its top-left
corner is uniform over the places it fits. Later rectangles are painted over earlier ones.

The values are timm's, which erases after normalisation: ``"const"`` zeros, ``"rand"`` one ``N(0, 1)``
value per rectangle and channel, ``"pixel"`` one per pixel and channel. Our batches are images, uint8
(0..255) or float (0..1), normalised later by ``(x - mean) / std``: a normalised value ``z`` is written as the
image value ``mean + std * z`` (fractions of the value range), so that it becomes ``z`` after that
normalisation. On uint8 it is rounded and clipped to 0..255 (``const`` then is the mean colour, within half a
level of 0 after normalisation; ``rand``/``pixel`` lose the tails beyond the range); on float it is clipped to
[0, 1] unless ``clip=False``. With ``mean=0``, ``std=1`` and ``clip=False`` on an already normalised float
batch, the op is timm's exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .._validate import choice, integer, is_number, probability
from .base import Augmentation, dtype_max, image_backend

__all__ = ["RandomErasing", "RandomErasingImage", "MODES", "IMAGENET_MEAN", "IMAGENET_STD"]

MODES = ("const", "rand", "pixel")
#: timm's ``IMAGENET_DEFAULT_MEAN`` / ``IMAGENET_DEFAULT_STD`` (the defaults of ``mean`` and ``std``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: timm's tries per rectangle
ATTEMPTS = 10


def _pair(value: Any, name: str, low: float, high: float) -> tuple[float, float]:
    """A ``(low, high)`` pair of finite numbers with ``low <= high`` inside ``(low, high]``."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(is_number(v) and math.isfinite(v) and low < v <= high for v in value)
        or value[0] > value[1]
    ):
        raise ValueError(f"{name} must be a pair (low, high) with {low:g} < low <= high <= {high:g}, got {value!r}")
    return float(value[0]), float(value[1])


def _channels(value: Any, name: str, positive: bool) -> tuple[float, ...]:
    """A number or a sequence of 1 or 3 finite numbers (fractions of the value range)."""
    values = (value,) if is_number(value) else value
    if (
        not isinstance(values, (list, tuple))
        or len(values) not in (1, 3)
        or not all(is_number(v) and math.isfinite(v) and (v > 0 or not positive) for v in values)
    ):
        allowed = "> 0" if positive else "finite"
        raise ValueError(f"{name} must be a number or 1 or 3 numbers {allowed} (per channel), got {value!r}")
    return tuple(float(v) for v in values)


class RandomErasing(Augmentation):
    """Per-sample Random Erasing on a batch: every draw a ``[B, ...]`` tensor, a loop over rectangle slots only.

    Args:
        p: probability that an image is erased at all (timm's ``probability``, default 0.5).
        scale: erased area range, fractions of the image (timm's ``min_area``, ``max_area``).
        ratio: aspect ratio (height / width) range, drawn log-uniform (timm's ``min_aspect``, ``max_aspect``).
        mode: ``"const"`` (zeros after normalisation), ``"rand"`` (a normal colour per rectangle), ``"pixel"``
            (normal noise).
        min_count, max_count: rectangles per image, uniform in ``min_count..max_count`` (``max_count`` default:
            ``min_count``); each one's area is scaled by ``1 / count``.
        mean, std: the normalisation that follows, fractions of the value range (1 or 3 values; three are
            averaged on grey images).
        clip: clip float results to [0, 1] (uint8 is always clipped to 0..255).

    ``backend="image"``: timm's loop on one ``H x W x C`` uint8 image (before normalisation, as in the DataLoader
    workers), values ``round(255 * (mean + std * z))`` clipped to 0..255. params: ``box`` ``[k,
    4]`` int (top, left, height, width) and ``value`` ``[k, h, w, C]`` or ``[k, 1, 1, C]`` float32 normalised values,
    one per rectangle erased.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``box`` ``[B, K, 4]`` int64 (top, left, height,
        width; zero height where nothing is erased), ``value`` ``[B, K, C, 1, 1]`` (const, rand) or
        ``[B, K, C, H, W]`` (pixel) float32 normalised values, with ``K = max_count``.

    Example:
        >>> aug = RandomErasing(p=1.0, mean=0.0, std=1.0, clip=False)
        >>> x = torch.ones(4, 3, 16, 16)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> bool(((y == 0) | (y == 1)).all()), bool((y == 0).any())
        (True, True)
    """

    def __init__(
        self,
        p: float = 0.5,
        scale: tuple[float, float] = (0.02, 1 / 3),
        ratio: tuple[float, float] = (0.3, 1 / 0.3),
        mode: str = "const",
        min_count: int = 1,
        max_count: int | None = None,
        mean: float | Sequence[float] = IMAGENET_MEAN,
        std: float | Sequence[float] = IMAGENET_STD,
        clip: bool = True,
        *,
        backend: str = "batch",
    ):
        super().__init__(backend)
        self.p = probability(p)
        self.scale = _pair(scale, "scale", 0.0, 1.0)
        self.ratio = _pair(ratio, "ratio", 0.0, math.inf)
        self.mode = choice(mode, "mode", MODES)
        self.min_count = integer(min_count, "min_count", low=1)
        self.max_count = integer(self.min_count if max_count is None else max_count, "max_count", low=self.min_count)
        self.mean = _channels(mean, "mean", positive=False)
        self.std = _channels(std, "std", positive=True)
        if not isinstance(clip, bool):
            raise ValueError(f"clip must be True or False, got {clip!r}")
        self.clip = clip

    def _normalisation(self, channels: int) -> tuple[list[float], list[float]]:
        """``mean`` and ``std`` for ``channels`` (1 or 3) channels: one value repeats, three average on grey."""

        def fit(values: tuple[float, ...]) -> list[float]:
            if len(values) == channels:
                return list(values)
            return list(values) * channels if len(values) == 1 else [sum(values) / len(values)]

        return fit(self.mean), fit(self.std)

    def sample_params(self, images, generator=None):
        batch, channels, height, width = images.shape
        where = generator.device if generator is not None else images.device
        slots = self.max_count

        def rand(*shape: int) -> torch.Tensor:
            return torch.rand(shape, generator=generator, device=where, dtype=torch.float64)

        applied = rand(batch) < self.p
        count = torch.randint(self.min_count, self.max_count + 1, (batch,), generator=generator, device=where)
        low, high = self.scale
        area = (low + (high - low) * rand(batch, slots, ATTEMPTS)) * (height * width) / count.view(-1, 1, 1)
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(log_low + (log_high - log_low) * rand(batch, slots, ATTEMPTS))
        tall, wide = torch.round(torch.sqrt(area * aspect)), torch.round(torch.sqrt(area / aspect))
        fits = (tall < height) & (wide < width)
        first = fits.to(torch.uint8).argmax(-1, keepdim=True)  # the first draw that fits (0 when none does)
        tall, wide = tall.gather(-1, first).squeeze(-1), wide.gather(-1, first).squeeze(-1)
        active = fits.any(-1) & applied.view(-1, 1) & (torch.arange(slots, device=where) < count.view(-1, 1))
        tall, wide = torch.where(active, tall, 0.0), torch.where(active, wide, 0.0)
        top = torch.floor(rand(batch, slots) * (height - tall + 1)).clamp_(max=height - tall)
        left = torch.floor(rand(batch, slots) * (width - wide + 1)).clamp_(max=width - wide)
        box = torch.stack([top, left, tall, wide], -1).long()
        size = (batch, slots, channels, *((height, width) if self.mode == "pixel" else (1, 1)))
        if self.mode == "const":
            value = torch.zeros(size, device=where)
        else:
            value = torch.randn(size, generator=generator, device=where)
        return {"box": box.to(images.device), "value": value.to(images.device)}

    def _image_values(self, value: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Normalised values -> image values ``mean + std * z`` in the images' dtype and range."""
        mean, std = self._normalisation(images.shape[1])
        shape = (1, 1, -1, 1, 1)
        scale = dtype_max(images.dtype)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device).view(shape) * scale
        std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(shape) * scale
        values = torch.addcmul(mean_t, std_t, value.to(torch.float32))  # one pass over pixel-mode noise
        if images.dtype == torch.uint8:
            return values.round_().clamp_(0, 255).to(torch.uint8)
        return (values.clamp_(0.0, 1.0) if self.clip else values).to(images.dtype)

    def apply(self, images, targets, params):
        box, value = params["box"], params["value"]
        batch, _, height, width = images.shape
        if box.ndim != 3 or box.shape[0] != batch or box.shape[2] != 4 or value.shape[:2] != box.shape[:2]:
            raise ValueError(
                f"params 'box' must be [B, K, 4] and 'value' [B, K, C, h, w] with B={batch}, got "
                f"{tuple(box.shape)} and {tuple(value.shape)}"
            )
        fill = self._image_values(value, images)
        rows = torch.arange(height, device=images.device).view(1, height, 1)
        cols = torch.arange(width, device=images.device).view(1, 1, width)
        out = images
        for slot in range(box.shape[1]):
            top, left, tall, wide = (part.view(batch, 1, 1) for part in box[:, slot].unbind(-1))
            inside = (rows >= top) & (rows < top + tall) & (cols >= left) & (cols < left + wide)
            out = torch.where(inside.unsqueeze(1), fill[:, slot], out)
        return out, targets

    def sample_params_image(self, img, rng):
        height, width = img.shape[:2]
        channels = img.shape[2] if img.ndim == 3 else 1
        boxes, values = [], []
        if rng.random() < self.p:
            count = int(rng.integers(self.min_count, self.max_count + 1))
            log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
            for _ in range(count):
                for _ in range(ATTEMPTS):
                    area = rng.uniform(*self.scale) * height * width / count
                    aspect = math.exp(rng.uniform(*log_ratio))
                    tall, wide = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
                    if tall < height and wide < width:
                        top, left = int(rng.integers(0, height - tall + 1)), int(rng.integers(0, width - wide + 1))
                        boxes.append((top, left, tall, wide))
                        size = (tall, wide) if self.mode == "pixel" else (1, 1)
                        if self.mode == "const":
                            values.append(np.zeros((*size, channels), dtype=np.float32))
                        else:
                            values.append(rng.standard_normal((*size, channels), dtype=np.float32))
                        break
        return {"box": np.array(boxes, dtype=np.int64).reshape(-1, 4), "value": values}

    def apply_image(self, img, params):
        out = img.copy()
        view = out if out.ndim == 3 else out[..., None]
        mean, std = (np.array(v, dtype=np.float32) for v in self._normalisation(view.shape[2]))
        for (top, left, tall, wide), value in zip(np.asarray(params["box"]).tolist(), params["value"]):
            fill = np.clip(np.round((mean + std * np.asarray(value, dtype=np.float32)) * 255), 0, 255)
            view[top : top + tall, left : left + wide] = fill.astype(np.uint8)
        return out


RandomErasingImage = image_backend(RandomErasing)

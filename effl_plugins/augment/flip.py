"""Flip: mirror each image left-right and/or top-bottom with probability ``p`` (``np.flip`` / ``cv2.flip``).

Pixel-exact on both backends (a copy, never a resampling). As a matrix (for composing with other geometric ops) a
horizontal flip is ``x -> (W - 1) - x`` in pixel-centre coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .._validate import choice, probability
from .base import Augmentation, bernoulli, image_backend
from .functional import matrices
from .kernels.rows import select_rows

__all__ = ["Flip", "FlipImage", "HorizontalFlip", "VerticalFlip", "HorizontalFlipImage", "VerticalFlipImage"]

DIRECTIONS = ("horizontal", "vertical", "both")


def flip_chosen(images: torch.Tensor, horizontal: torch.Tensor, vertical: torch.Tensor) -> torch.Tensor:
    """The CPU batch: a new tensor with the chosen samples flipped left-right (the batch flipped once, the unchosen
    runs of samples copied back) and/or top-bottom (one gather of whole rows).

    Shape:
        images ``[B, C, H, W]`` contiguous, horizontal, vertical ``[B]`` bool -> ``[B, C, H, W]``.
    """
    out = _flip_width(images, horizontal) if bool(horizontal.any()) else images
    if bool(vertical.any()):
        return _flip_height(out, vertical)
    return out if out is not images else images.clone()


def _runs(chosen: torch.Tensor):
    """``(start, stop)`` of each run of consecutive True values of a ``[B]`` bool tensor."""
    start = None
    for index, value in enumerate([*chosen.tolist(), False]):
        if value and start is None:
            start = index
        elif not value and start is not None:
            yield start, index
            start = None


def _flip_width(images: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    out = images.flip(-1)
    for start, stop in _runs(~chosen):
        out[start:stop] = images[start:stop]
    return out


def _flip_height(images: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Each output row read from its row of ``images`` (its mirror row in the chosen samples), in one gather."""
    batch, channels, height, width = images.shape
    rows = torch.arange(batch * channels * height, device=images.device).view(batch, channels, height)
    source = torch.where(chosen.view(-1, 1, 1), rows.flip(-1), rows).view(-1)
    return select_rows(images.view(-1, width), source).view(images.shape)


class Flip(Augmentation):
    """Per-sample mirror.

    Args:
        direction: ``"horizontal"`` (left-right), ``"vertical"`` (top-bottom) or ``"both"`` (each axis
            flipped independently with probability ``p``).
        p: probability of flipping a sample (per axis for ``"both"``).
        backend: ``"batch"`` or ``"image"`` (``cv2.flip``; params ``horizontal``, ``vertical`` bools).

    Shape:
        ``[B, C, H, W]`` -> same. params: ``horizontal``, ``vertical`` bool ``[B]``.

    Example:
        >>> aug = Flip("horizontal", p=1.0)
        >>> x = torch.arange(4, dtype=torch.uint8).view(1, 1, 1, 4)
        >>> aug(x, generator=torch.Generator().manual_seed(0))[0].flatten().tolist()
        [3, 2, 1, 0]
    """

    def __init__(self, direction: str = "horizontal", p: float = 0.5, *, backend: str = "batch"):
        super().__init__(backend)
        self.direction = choice(direction, "direction", DIRECTIONS)
        self.p = probability(p)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        never = torch.zeros(batch, dtype=torch.bool, device=device)
        horizontal = bernoulli((batch,), self.p, device, generator) if self.direction != "vertical" else never
        vertical = bernoulli((batch,), self.p, device, generator) if self.direction != "horizontal" else never
        return {"horizontal": horizontal, "vertical": vertical}

    def matrix_from_params(self, params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """``[B, 3, 3]`` forward matrices of the flips (see :mod:`.functional.matrices`)."""
        return matrices.flip(params["horizontal"].bool(), params["vertical"].bool(), height, width)

    def apply(self, images, targets, params):
        horizontal, vertical = params["horizontal"].bool(), params["vertical"].bool()
        if images.device.type == "cpu" and images.is_contiguous():
            return flip_chosen(images, horizontal, vertical), targets
        out = torch.where(horizontal.view(-1, 1, 1, 1), images.flip(-1), images)
        return torch.where(vertical.view(-1, 1, 1, 1), out.flip(-2), out), targets

    def sample_params_image(self, img, rng):
        horizontal = self.direction != "vertical" and bool(rng.random() < self.p)
        vertical = self.direction != "horizontal" and bool(rng.random() < self.p)
        return {"horizontal": horizontal, "vertical": vertical}

    def apply_image(self, img, params):
        horizontal, vertical = bool(params["horizontal"]), bool(params["vertical"])
        if not (horizontal or vertical):
            return img.copy()
        code = -1 if horizontal and vertical else (1 if horizontal else 0)
        return np.ascontiguousarray(cv2.flip(img, code)).reshape(img.shape)


class HorizontalFlip(Flip):
    """``flip`` left-right with probability ``p`` (torchvision's ``RandomHorizontalFlip``)."""

    def __init__(self, p: float = 0.5, *, backend: str = "batch"):
        super().__init__("horizontal", p, backend=backend)


class VerticalFlip(Flip):
    """``flip`` top-bottom with probability ``p`` (torchvision's ``RandomVerticalFlip``)."""

    def __init__(self, p: float = 0.5, *, backend: str = "batch"):
        super().__init__("vertical", p, backend=backend)


FlipImage = image_backend(Flip)
HorizontalFlipImage = image_backend(HorizontalFlip)
VerticalFlipImage = image_backend(VerticalFlip)

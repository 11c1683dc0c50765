"""Crop: cut a box out of each image, random or centred, optionally padded first.

With ``size=(h, w)`` the output is that box, pixel for pixel (torchvision's ``RandomCrop`` /
``CenterCrop``). Without it the box covers ``fraction`` of each side and is resized back to the input
size. Boxes are ``(top, left, height, width)`` in pixels; resizing follows ``cv2.resize`` (and
torchvision's ``resized_crop`` without antialias): output pixel centre ``j`` reads the box at
``left + (j + 0.5) * width / out_width - 0.5``, clamped to the box. ``"nearest"`` takes the box pixel
``floor((j + 0.5) * width / out_width)`` (torchvision's ``NEAREST_EXACT``). Pixels of a box that lie in the padding
take ``fill``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from .._validate import choice, integer, is_number, number
from .base import Augmentation, image_backend, uniform
from .functional import matrices
from .functional.warp import bilinear_gather, check_fill, check_interpolation, fill_tensor, gather_pixels

__all__ = ["Crop", "CropImage", "resample_boxes", "copy_boxes", "crop_image", "box_matrix", "check_size"]

MODES = ("random", "center")


def check_size(size: Any, name: str = "size") -> tuple[int, int] | None:
    """``None``, ``n`` or ``(h, w)`` with positive integers -> ``(h, w)`` or ``None``."""
    if size is None:
        return None
    values = (size, size) if is_number(size) else size
    if (
        not isinstance(values, (list, tuple))
        or len(values) != 2
        or not all(is_number(v) and isinstance(v, int) and v > 0 for v in values)
    ):
        raise ValueError(
            f"{name} must be None, a positive int or a (height, width) pair of positive ints, got {size!r}"
        )
    return int(values[0]), int(values[1])


#: a float32 tensor or NumPy array
_Array = torch.Tensor | np.ndarray


def _axis_coordinates(start: _Array, length: _Array, out: int, interpolation: str) -> _Array:
    """Source coordinates ``[B, out]`` along one axis for boxes ``start``/``length`` ``[B]``: float32 tensors, or
    float32 NumPy arrays (the same operations, so the same values)."""
    xp = np if isinstance(start, np.ndarray) else torch
    if xp is np:
        j = np.arange(out, dtype=np.float32) + 0.5
    else:
        j = torch.arange(out, dtype=torch.float32, device=start.device) + 0.5
    scale = (length / out)[:, None]
    if interpolation == "nearest":
        return start[:, None] + xp.floor(j * scale)
    coordinate = start[:, None] + j * scale - 0.5
    return xp.minimum(xp.maximum(coordinate, start[:, None]), (start + length - 1)[:, None])


def resample_boxes(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: tuple[int, int],
    interpolation: str = "bilinear",
    fill: float | Sequence[float] = 0,
) -> torch.Tensor:
    """Cut each sample's box and resize it to ``size``, the whole batch at once.

    Args:
        images: ``[B, C, H, W]`` uint8 or float. boxes: ``[B, 4]`` ``(top, left, height, width)`` pixels.
        size: output ``(height, width)``. interpolation: ``"bilinear"`` or ``"nearest"``.
        fill: value of box pixels outside the image.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, *size]``; a box of exactly ``size`` is copied pixel for pixel.
    """
    boxes = boxes.to(device=images.device, dtype=torch.float32)
    top, left, height, width = boxes.unbind(-1)
    src_y = _axis_coordinates(top, height, size[0], interpolation).unsqueeze(-1).expand(-1, -1, size[1])
    src_x = _axis_coordinates(left, width, size[1], interpolation).unsqueeze(-2).expand(-1, size[0], -1)
    fill_value = fill_tensor(fill, images)
    if interpolation == "nearest":
        return gather_pixels(images, src_x, src_y, fill_value)
    return bilinear_gather(images, src_x, src_y, fill_value)


#: the window size up to which one indexed copy of all windows beats a strided copy per sample
_INDEXED_WINDOW_PIXELS = 64 * 64


def copy_boxes(images: torch.Tensor, boxes: torch.Tensor, fill: float) -> torch.Tensor | None:
    """Boxes of one size at whole-pixel corners, copied as windows of the padded batch; ``None`` when the
    boxes are not such (then :func:`resample_boxes` does the work; same results).

    One pad of the batch, then one indexed copy of ``unfold``'s window view (small windows) or a strided copy of
    each sample's window. Reads the boxes on the host, so it runs for CPU tensors only.

    Shape:
        images ``[B, C, H, W]``, boxes ``[B, 4]`` ``(top, left, height, width)`` -> ``[B, C, height, width]``.
    """
    if images.device.type != "cpu" or boxes.device.type != "cpu" or len(boxes) == 0:
        return None
    corners, sizes = boxes[:, :2], boxes[:, 2:]
    whole = bool(torch.isfinite(boxes).all()) and bool((corners == torch.floor(corners)).all())
    if not whole or not bool((sizes == sizes[:1]).all()):
        return None
    box_h, box_w = (int(v) for v in sizes[0].tolist())
    if box_h < 1 or box_w < 1:
        return None
    height, width = images.shape[-2:]
    top, left = corners.long().unbind(-1)
    pad_y = max(0, -int(top.min()), int(top.max()) + box_h - height)
    pad_x = max(0, -int(left.min()), int(left.max()) + box_w - width)
    if images.dtype == torch.uint8:
        fill = min(max(round(fill), 0), 255)
    padded = torch.nn.functional.pad(images, (pad_x, pad_x, pad_y, pad_y), value=fill) if pad_x or pad_y else images
    if box_h * box_w <= _INDEXED_WINDOW_PIXELS:  # small windows: one indexed copy of unfold's window view
        windows = padded.unfold(2, box_h, 1).unfold(3, box_w, 1)  # [B, C, rows, cols, box_h, box_w], a view
        return windows[torch.arange(len(images)), :, top + pad_y, left + pad_x]
    out = images.new_empty((len(images), images.shape[1], box_h, box_w))
    for sample, (y, x) in enumerate(zip((top + pad_y).tolist(), (left + pad_x).tolist())):
        out[sample] = padded[sample, :, y : y + box_h, x : x + box_w]  # a strided copy per sample
    return out


def box_matrix(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[B, 3, 3]`` forward matrices sending each box onto an output of ``size`` (pixel centres, cv2.resize's
    alignment)."""
    top, left, height, width = boxes.to(torch.float32).unbind(-1)
    sx, sy = size[1] / width, size[0] / height
    to_box = matrices.translation(0.5 - left, 0.5 - top)
    return (
        matrices.translation(torch.full_like(sx, -0.5), torch.full_like(sy, -0.5)) @ matrices.scaling(sx, sy) @ to_box
    )


def crop_image(
    img: np.ndarray,
    box: Sequence[float],
    size: tuple[int, int],
    interpolation: str = "bilinear",
    fill: float | Sequence[float] = 0,
) -> np.ndarray:
    """One image's box through NumPy slicing (``cv2.copyMakeBorder`` where it leaves the image) and ``cv2.resize``."""
    top, left, height, width = (int(round(float(v))) for v in box)
    pad_top, pad_left = max(0, -top), max(0, -left)
    pad_bottom, pad_right = max(0, top + height - img.shape[0]), max(0, left + width - img.shape[1])
    if pad_top or pad_left or pad_bottom or pad_right:
        border = tuple(fill) + (0,) * (4 - len(fill)) if isinstance(fill, tuple) else (fill,) * 4
        img = cv2.copyMakeBorder(
            img, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_CONSTANT, value=border
        ).reshape(img.shape[0] + pad_top + pad_bottom, img.shape[1] + pad_left + pad_right, *img.shape[2:])
    box_pixels = img[top + pad_top : top + pad_top + height, left + pad_left : left + pad_left + width]
    if (height, width) == tuple(size):
        return np.ascontiguousarray(box_pixels)
    if interpolation == "nearest":
        rows = _nearest_index(height, size[0])
        return np.ascontiguousarray(box_pixels[rows][:, _nearest_index(width, size[1])])
    return cv2.resize(box_pixels, (size[1], size[0]), interpolation=cv2.INTER_LINEAR).reshape(*size, *img.shape[2:])


def _nearest_index(length: int, out: int) -> np.ndarray:
    """``floor((j + 0.5) * length / out)`` in float32, the batch backend's pixel-centre nearest (cv2's
    ``INTER_NEAREST_EXACT`` rounds differently)."""
    scale = np.float32(length) / np.float32(out)
    return np.floor((np.arange(out, dtype=np.float32) + np.float32(0.5)) * scale).astype(np.int64)


class Crop(Augmentation):
    """Per-sample random (or centre) crop.

    Args:
        size: output ``(h, w)`` (or ``n``): the box is exactly this big, no resizing. ``None``: a box of
            ``fraction`` of each side, resized back to the input size.
        mode: ``"random"`` (every sample its own box) or ``"center"``.
        fraction: box side / image side when ``size`` is None, in (0, 1].
        padding: pixels of ``fill`` added on every side before cropping (torchvision's ``RandomCrop(padding=)``).
        fill: padding value (image units). interpolation: ``"bilinear"`` or ``"nearest"`` (resizing only).

    ``backend="image"``: slicing (padding by ``cv2.copyMakeBorder``) and ``cv2.resize``; params ``{"box": (top, left, h,
    w)}``.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, *size]`` (or ``[B, C, H, W]``). params: ``box`` ``[B, 4]`` = (top, left, h, w).

    Example:
        >>> aug = Crop(size=4, mode="center")
        >>> x = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8)
        >>> torch.equal(aug(x)[0], x[..., 2:6, 2:6])
        True
    """

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        mode: str = "random",
        fraction: float = 0.875,
        padding: int = 0,
        fill: float | Sequence[float] = 0,
        interpolation: str = "bilinear",
        *,
        backend: str = "batch",
    ):
        super().__init__(backend)
        self.size = check_size(size)
        self.mode = choice(mode, "mode", MODES)
        self.fraction = number(
            fraction, "fraction", low=0, high=1, low_open=True, note="the box side as a fraction of the image side"
        )
        self.padding = integer(padding, "padding", low=0, note="pixels added on every side")
        self.fill = check_fill(fill)
        self.interpolation = check_interpolation(interpolation)

    def _box_size(self, height: int, width: int) -> tuple[int, int]:
        if self.size is None:
            return max(1, round(self.fraction * height)), max(1, round(self.fraction * width))
        box_h, box_w = self.size
        if box_h > height + 2 * self.padding or box_w > width + 2 * self.padding:
            raise ValueError(
                f"size {self.size} is larger than the {height}x{width} image padded by {self.padding}; "
                f"allowed: at most ({height + 2 * self.padding}, {width + 2 * self.padding})"
            )
        return box_h, box_w

    def _out_size(self, height: int, width: int) -> tuple[int, int]:
        return self.size if self.size is not None else (height, width)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        height, width = images.shape[-2:]
        box_h, box_w = self._box_size(height, width)
        if self.mode == "center":
            top = torch.full((batch,), round((height - box_h) / 2), dtype=torch.float32, device=device)
            left = torch.full((batch,), round((width - box_w) / 2), dtype=torch.float32, device=device)
        else:
            span = torch.tensor(
                [height + 2 * self.padding - box_h + 1, width + 2 * self.padding - box_w + 1], device=device
            )
            corner = (
                torch.floor(uniform((batch, 2), 0.0, 1.0, device, generator) * span).clamp_(max=span - 1) - self.padding
            )
            top, left = corner.unbind(-1)
        sizes = torch.tensor([box_h, box_w], dtype=torch.float32, device=device).expand(batch, 2)
        return {"box": torch.cat([torch.stack([top, left], -1), sizes], -1)}

    def matrix_from_params(self, params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """``[B, 3, 3]`` forward matrices of the crop-and-resize (input -> output pixel coordinates)."""
        return box_matrix(params["box"], self._out_size(height, width))

    def apply(self, images, targets, params):
        out_size = self._out_size(*images.shape[-2:])
        boxes = params["box"]
        if self.size is not None and not isinstance(self.fill, tuple) and boxes.ndim == 2 and boxes.shape[1] == 4:
            copied = copy_boxes(images, boxes, self.fill)  # boxes of exactly ``size``: a copy, no resampling
            if copied is not None and tuple(copied.shape[-2:]) == tuple(out_size):
                return copied, targets
        return resample_boxes(images, boxes, out_size, self.interpolation, self.fill), targets

    def sample_params_image(self, img, rng):
        height, width = img.shape[:2]
        box_h, box_w = self._box_size(height, width)
        if self.mode == "center":
            top, left = round((height - box_h) / 2), round((width - box_w) / 2)
        else:
            top = int(rng.integers(0, height + 2 * self.padding - box_h + 1)) - self.padding
            left = int(rng.integers(0, width + 2 * self.padding - box_w + 1)) - self.padding
        return {"box": np.array([top, left, box_h, box_w], dtype=np.float32)}

    def apply_image(self, img, params):
        return crop_image(img, params["box"], self._out_size(*img.shape[:2]), self.interpolation, self.fill)


CropImage = image_backend(Crop)

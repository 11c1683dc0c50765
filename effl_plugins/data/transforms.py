"""The per-image train and eval pipelines timm feeds a model, on ``H x W x 3`` uint8 RGB arrays.

Train (``timm.data.transforms_imagenet_train`` without the colour jitter): the registered
``random_resized_crop`` op's box (Szegedy et al., "Going deeper with convolutions", 2015) resized as timm
does, the ``flip`` op, then an optional image-backend augmentation, with OpenCV kernels and one
``numpy.random.Generator`` per item. Eval: timm's own ``transforms_imagenet_eval`` on a PIL view of the
array, so that eval pixels equal what timm gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .._api import create_augmentation
from .._validate import probability
from .config import DataConfig

__all__ = ["TrainTransform", "EvalTransform", "train_transform", "eval_transform", "rrc_params"]


def _cv2_interpolation(name: str) -> int:
    import cv2

    return {
        "nearest": cv2.INTER_NEAREST,
        "bilinear": cv2.INTER_LINEAR,
        "bicubic": cv2.INTER_CUBIC,
        "box": cv2.INTER_AREA,
        "hamming": cv2.INTER_LINEAR,
        "lanczos": cv2.INTER_LANCZOS4,
    }[name]


def rrc_params(
    height: int, width: int, scale: Sequence[float], ratio: Sequence[float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """A random-resized-crop box ``(top, left, h, w)`` in an image of ``height x width``: the registered
    ``random_resized_crop`` op's draw (timm's ``RandomResizedCropAndInterpolation.get_params``, see
    :mod:`effl_plugins.augment.random_resized_crop`). ``scale`` and ``ratio`` are ``(low, high)`` pairs."""
    return _random_resized_crop(scale, ratio).box_image(height, width, rng)


def _random_resized_crop(scale: Sequence[float], ratio: Sequence[float]) -> Any:
    """The registered ``random_resized_crop`` op's image form with these ranges."""
    return create_augmentation("random_resized_crop", backend="image", scale=tuple(scale), ratio=tuple(ratio))


def _to_chw(img: np.ndarray) -> torch.Tensor:
    """``H x W x 3`` -> contiguous ``[3, H, W]`` (NumPy's transposing copy, faster than torch's for uint8)."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def _check_image(img: Any) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise TypeError(f"img must be an H x W x 3 uint8 RGB numpy array, got {got}")


class TrainTransform:
    """``t(img, rng) -> uint8 [3, H, W]``: random-resized-crop, flip, ``image_aug``; see :func:`train_transform`."""

    random = True

    def __init__(self, cfg: DataConfig, scale, ratio, hflip: float, image_aug: Callable | None):
        self.size = cfg.img_size
        self.interpolation = cfg.interpolation
        self.scale, self.ratio, self.hflip, self.image_aug = scale, ratio, hflip, image_aug
        self._crop = _random_resized_crop(scale, ratio)
        self._flip = create_augmentation("flip", backend="image", p=hflip) if hflip > 0 else None

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        import cv2

        _check_image(img)
        top, left, h, w = self._crop.box_image(img.shape[0], img.shape[1], rng)
        out_h, out_w = self.size
        # shrinking 2x or more: area averaging (antialiased, as PIL's resize in timm); else the configured filter
        shrink = h >= 2 * out_h and w >= 2 * out_w and self.interpolation != "nearest"
        flag = cv2.INTER_AREA if shrink else _cv2_interpolation(self.interpolation)
        out = cv2.resize(img[top : top + h, left : left + w], (out_w, out_h), interpolation=flag)
        if self._flip is not None:
            out = self._flip(out, rng)
        if self.image_aug is not None:
            out = self.image_aug(out, rng=rng)
        return _to_chw(out)

    def __repr__(self) -> str:
        return (
            f"TrainTransform(size={self.size}, interpolation={self.interpolation!r}, scale={self.scale}, "
            f"ratio={self.ratio}, hflip={self.hflip}, image_aug={self.image_aug!r})"
        )


class EvalTransform:
    """``t(img) -> uint8 [3, H, W]``: timm's eval resize and centre crop; see :func:`eval_transform`."""

    random = False

    def __init__(self, cfg: DataConfig):
        import timm.data

        self.cfg = cfg
        steps = timm.data.create_transform(**cfg.to_dict(), is_training=False, use_prefetcher=True).transforms
        # timm's PIL steps (resize, centre crop); its last step, PIL to a CHW view, is done here as a contiguous copy
        self.pil_steps = [t for t in steps if not isinstance(t, timm.data.transforms.MaybePILToTensor)]

    def __call__(self, img: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        from PIL import Image

        _check_image(img)
        pil = Image.fromarray(img)
        for step in self.pil_steps:
            pil = step(pil)
        return _to_chw(np.asarray(pil))

    def __repr__(self) -> str:
        return f"EvalTransform({self.cfg})"


def train_transform(
    cfg: DataConfig,
    *,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    hflip: float = 0.5,
    image_aug: Callable | None = None,
) -> TrainTransform:
    """The train pipeline at ``cfg``'s size: ``t(img, rng) -> uint8 tensor [3, H, W]``.

    Args:
        cfg: the model's :class:`DataConfig` (output size and interpolation).
        scale: range of the crop's area fraction, ``0 < lo <= hi <= 1`` (timm's ``--scale``).
        ratio: range of the crop's aspect ``w / h``, ``0 < lo <= hi`` (timm's ``--ratio``).
        hflip: probability of a horizontal flip, in ``[0, 1]``.
        image_aug: an image-backend augmentation ``t(img, rng=...)`` (``ep.create_augmentation(...,
            backend="image")``) applied last, or None.

    Shape:
        ``img``: ``H x W x 3`` uint8 RGB NumPy array, any size; output ``[3, *cfg.img_size]`` uint8.

    Example:
        >>> cfg = DataConfig((3, 32, 32), "bilinear", (0.5,) * 3, (0.5,) * 3, 0.875)
        >>> t = train_transform(cfg)
        >>> t(np.zeros((40, 60, 3), np.uint8), np.random.default_rng(0)).shape
        torch.Size([3, 32, 32])
    """
    if not isinstance(cfg, DataConfig):
        raise TypeError(f"cfg must be a DataConfig, got {type(cfg).__name__}")
    scale, ratio = _range("scale", scale, upper=1.0), _range("ratio", ratio)
    probability(hflip, "hflip")
    if image_aug is not None and not callable(image_aug):
        raise TypeError(f"image_aug must be a callable t(img, rng=...) or None, got {type(image_aug).__name__}")
    return TrainTransform(cfg, scale, ratio, float(hflip), image_aug)


def eval_transform(cfg: DataConfig) -> EvalTransform:
    """The eval pipeline: ``t(img) -> uint8 tensor [3, H, W]``, timm's ``create_transform(is_training=False)``:
    the shorter side resized to ``floor(size / crop_pct)`` with ``cfg.interpolation``, a centre crop of
    ``cfg.img_size``."""
    if not isinstance(cfg, DataConfig):
        raise TypeError(f"cfg must be a DataConfig, got {type(cfg).__name__}")
    return EvalTransform(cfg)


def _range(name: str, value: Any, upper: float | None = None) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a pair (lo, hi) of numbers, got {value!r}") from None
    bound = f" <= {upper}" if upper is not None else ""
    if not (0 < lo <= hi) or (upper is not None and hi > upper) or not math.isfinite(hi):
        raise ValueError(f"{name} must satisfy 0 < lo <= hi{bound}, got {value!r}")
    return lo, hi

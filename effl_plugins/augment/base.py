"""Shared machinery of the two augmentation backends (:class:`BatchAugmentation`, :class:`ImageAugmentation`,
both in one :class:`Augmentation`): input checks, parameter sampling (then apply: kornia's lesson), replay.

Input rules, checked once at entry for every op of both backends:

- Non-finite float input is refused: a floating batch holding NaN or +-inf raises ValueError
  (``check_images``). Ops mix pixels (means, histograms, interpolation), so one NaN pixel would
  spread over an image and silently poison training; refusing costs one pass over float input
  (uint8 input, the common case, is never checked). Clean or mask such data before augmenting.
- An empty batch (B = 0) is returned empty, with the op's output shape and dtype (targets as
  given; mixing ops return soft targets ``[0, K]``).
- Images of zero height or width are refused (ValueError), in both backends.
- ``targets`` given to an op that does not mix samples must have one entry per image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

__all__ = [
    "Augmentation",
    "BatchAugmentation",
    "ImageAugmentation",
    "image_backend",
    "image_as_batch",
    "batch_as_image",
    "check_images",
    "check_image",
    "check_target_count",
    "uniform",
    "bernoulli",
    "dtype_max",
    "params_for_sample",
    "MagnitudeOp",
    "AffineOp",
]

Params = dict[str, torch.Tensor]

#: the bytes of input a ``chunked`` op processes at once on the CPU: its float32 intermediates (four times as
#: many bytes for uint8 input) then fit the last-level cache share of a core
CHUNK_BYTES = 1 << 20


@runtime_checkable
class MagnitudeOp(Protocol):
    """What RandAugment and TrivialAugment ask of an op of their op space, on either backend.

    ``signed``: whether the op's magnitude takes a random sign (rotate left or right, brighter or darker).
    ``params_from_magnitude(images, magnitude, sign)``: the op's params for a magnitude in [0, 1] (``M / 30``)
    and a sign of +-1; batch: ``images [B, C, H, W]``, ``magnitude, sign [B]`` -> params with leading dim B;
    image: one ``H x W x C`` image and two floats -> that image's params.
    """

    signed: bool

    def params_from_magnitude(self, images: Any, magnitude: Any, sign: Any) -> dict[str, Any]: ...


@runtime_checkable
class AffineOp(Protocol):
    """An op that is one affine warp, so a chain of them composes into one: ``matrix_from_params(params, height,
    width)`` gives its forward matrices, ``[B, 3, 3]`` (batch) or ``3 x 3`` (image)."""

    def matrix_from_params(self, params: dict[str, Any], height: int, width: int) -> Any: ...


def check_images(images: Any, name: str = "images") -> torch.Tensor:
    """Validate a batch: a ``[B, C, H, W]`` tensor, uint8 or floating, C in {1, 3}."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [B, C, H, W], got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"{name} must be 4-D [B, C, H, W], got shape {tuple(images.shape)} ({images.ndim}-D)")
    if images.dtype != torch.uint8 and not images.dtype.is_floating_point:
        raise TypeError(f"{name} must be uint8 or floating point, got dtype {images.dtype}")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels (dim 1 of [B, C, H, W]), got {images.shape[1]} channels")
    if images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"{name} must be at least 1x1 pixels, got shape {tuple(images.shape)}")
    if images.dtype.is_floating_point and images.numel() and not _all_finite(images):
        bad = int((~torch.isfinite(images)).sum())
        raise ValueError(
            f"{name} must be finite: got {bad} NaN or infinite values in a {images.dtype} batch "
            f"{tuple(images.shape)}; augmentations refuse non-finite float input"
        )
    return images


def _all_finite(images: torch.Tensor) -> bool:
    """Whether every value is finite, in one reduction: a finite sum proves it (NaN and +-inf reach
    the sum); a non-finite sum (or an overflowing one) falls back to the element-wise test."""
    total = images.sum(dtype=torch.float32) if images.element_size() < 4 else images.sum()
    return bool(torch.isfinite(total)) or bool(torch.isfinite(images).all())


def check_target_count(targets: Any, batch: int, name: str = "targets") -> None:
    """``targets`` (a tensor, list or tuple; anything else passes) must have one entry per image."""
    if isinstance(targets, torch.Tensor):
        count = targets.shape[0] if targets.ndim else None
    elif isinstance(targets, (list, tuple)):
        count = len(targets)
    else:
        return
    if count != batch:
        shape = tuple(targets.shape) if isinstance(targets, torch.Tensor) else f"length {count}"
        raise ValueError(f"{name} must have one entry per image ({batch}), got {shape}")


def check_image(img: Any, name: str = "img") -> np.ndarray:
    """Validate one image for the image backend: ``H x W x C`` (or ``H x W``) uint8 NumPy array."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array H x W x C uint8, got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {img.dtype}")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise ValueError(f"{name} must be H x W or H x W x C with C in {{1, 3}}, got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name} must be at least 1x1 pixels, got shape {img.shape}")
    return img


def dtype_max(dtype: torch.dtype) -> float:
    """The top of the valid range: 255 for uint8, 1.0 for floating images."""
    return 255.0 if dtype == torch.uint8 else 1.0


def _sampling_device(device: torch.device, generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else device


def uniform(shape, low: float, high: float, device, generator=None) -> torch.Tensor:
    """``U(low, high)`` float32 samples of ``shape`` drawn on the generator's device, moved to ``device``:
    ``low + (high - low) * u``, computed in place on the draw (the same two roundings)."""
    where = _sampling_device(device, generator)
    u = torch.rand(shape, generator=generator, device=where).mul_(high - low).add_(low)
    return u if where == device else u.to(device, non_blocking=True)


def bernoulli(shape, p: float, device, generator=None) -> torch.Tensor:
    """Bool samples that are True with probability ``p``."""
    where = _sampling_device(device, generator)
    u = torch.rand(shape, generator=generator, device=where) < p
    return u if where == device else u.to(device, non_blocking=True)


def params_for_sample(params: Params, index: int) -> Params:
    """Slice one sample's parameters out of a batch draw (keeps the batch dimension, size 1)."""
    return {k: v[index : index + 1] for k, v in params.items()}


class BatchAugmentation(nn.Module):
    """Base of batch-backend augmentations.

    Call: ``aug(images, targets=None, *, generator=None, params=None) -> (images, targets)``.

    Shape:
        images: ``[B, C, H, W]`` uint8 or floating, any device; output has the same dtype,
        device and shape. ``targets`` pass through unchanged unless the op mixes samples.

    Subclasses implement ``sample_params(images, generator) -> dict[str, Tensor]`` (each value with
    leading dim B) and ``apply(images, targets, params) -> (images, targets)``, with no Python loop over samples;
    ``apply`` must not modify ``images`` in place. ``last_params`` holds the last draw, ``aug(x, params=...)``
    replays it.
    """

    #: True for ops whose output sample depends on other samples (cutmix, mixup).
    mixes_samples: bool = False
    #: True for point ops: each output value depends only on that pixel's value and the sample's params (not on
    #: its position, its neighbours or image statistics), so on uint8 the op is a 256-entry table per sample and
    #: channel and ``compose`` runs a chain of them as one table (by applying them to the ``[B, C, 1, 256]`` ramp).
    point_op: bool = False
    #: True for ops that make several passes over float intermediates: on the CPU their batch runs in chunks of
    #: samples of about :data:`CHUNK_BYTES`, so the intermediates stay in cache between passes (per-sample ops:
    #: the result is the same)
    chunked: bool = False
    #: the chunk size of a ``chunked`` op, bytes of input (None: :data:`CHUNK_BYTES`)
    chunk_bytes: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.last_params: Params | None = None

    def sample_params(self, images: torch.Tensor, generator: torch.Generator | None = None) -> Params:
        raise NotImplementedError

    def apply(self, images: torch.Tensor, targets: Any, params: Params) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def forward(
        self,
        images: torch.Tensor,
        targets: Any = None,
        *,
        generator: torch.Generator | None = None,
        params: Params | None = None,
    ):
        check_images(images)
        if not self.mixes_samples:
            check_target_count(targets, images.shape[0])
            if images.shape[0] == 0:
                self.last_params = {}
                return self.empty_output(images), targets
        if params is None:
            params = self.sample_params(images, generator)
        else:
            params = self._check_params(params, images)
        self.__dict__["last_params"] = params  # a plain attribute: the hot path skips nn.Module.__setattr__'s checks
        if self.chunked and images.device.type == "cpu" and not self.mixes_samples:
            return self._apply_in_chunks(images, targets, params)
        return self.apply(images, targets, params)

    def _apply_in_chunks(
        self, images: torch.Tensor, targets: Any, params: Params, apply: Callable | None = None
    ) -> tuple[torch.Tensor, Any]:
        """``apply`` (default ``self.apply``) on cache-sized runs of samples, each with its rows of ``params`` (see
        ``chunked``)."""
        apply = self.apply if apply is None else apply
        batch = images.shape[0]
        size = self.chunk_bytes if self.chunk_bytes is not None else CHUNK_BYTES
        step = max(1, size // max(1, images[0].numel() * images.element_size()))
        if step >= batch:
            return apply(images, targets, params)
        out = None
        for start in range(0, batch, step):
            rows = {
                key: value[start : start + step]
                if isinstance(value, torch.Tensor) and value.ndim and value.shape[0] == batch
                else value
                for key, value in params.items()
            }
            part, _ = apply(images[start : start + step], None, rows)
            if out is None:
                out = part.new_empty((batch, *part.shape[1:]))
            out[start : start + len(part)] = part
        return out, targets

    def empty_output(self, images: torch.Tensor) -> torch.Tensor:
        """The output for an empty batch: ``[0, C, *size]`` for ops with a ``size`` (crops), else
        the input's shape; same dtype and device."""
        size = getattr(self, "size", None)
        return images.new_empty((0, images.shape[1], *size)) if size is not None else images.clone()

    def _check_params(self, params: Params, images: torch.Tensor) -> Params:
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of tensors (as in aug.last_params), got {type(params).__name__}")
        batch = images.shape[0]
        for key, value in params.items():
            if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] != batch:
                raise ValueError(
                    f"params[{key!r}] has leading dimension {value.shape[0]}, but the batch has {batch} images"
                )
        return {k: (v.to(images.device) if isinstance(v, torch.Tensor) else v) for k, v in params.items()}

    #: attributes left out of the repr
    _UNSHOWN: tuple[str, ...] = ("training", "last_params")

    def extra_repr(self) -> str:
        return ", ".join(
            f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k not in self._UNSHOWN
        )


class ImageAugmentation:
    """Base of image-backend augmentations: one ``H x W x C`` uint8 NumPy image at a time.

    Call: ``t(img, rng=None, *, params=None) -> img`` (same dtype, shape unless the op resizes).
    ``rng`` is a ``numpy.random.Generator`` or a seed; ``last_params`` replays.
    """

    def __init__(self) -> None:
        self.last_params: dict[str, Any] | None = None

    def sample_params(self, img: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, img: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def __call__(
        self, img: np.ndarray, rng: np.random.Generator | int | None = None, *, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        return _call_image(self, img, rng, params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and k != "last_params")
        return f"{type(self).__name__}({args})"


def _call_image(op: Any, img: np.ndarray, rng: Any, params: dict[str, Any] | None) -> np.ndarray:
    """One image-backend call: check ``img``, draw its params from ``rng`` unless given, keep them, apply."""
    check_image(img)
    if params is None:
        params = op.sample_params(img, np.random.default_rng(rng))
    op.last_params = params
    return op.apply(img, params)


class Augmentation(BatchAugmentation):
    """One op with a kernel per input type; ``backend`` chosen at creation says which one its calls run.

    ``backend="batch"`` (default): :class:`BatchAugmentation`'s call on ``[B, C, H, W]`` tensors.
    ``backend="image"``: :class:`ImageAugmentation`'s call, ``t(img, rng=None, *, params=None) -> img`` on one
    ``H x W x C`` uint8 NumPy image.

    A subclass checks its arguments once in ``__init__`` and writes each method of the op twice, once per input
    type: ``sample_params``, ``apply``, and where the op has them ``params_from_magnitude``,
    ``matrix_from_params`` and ``transform`` for the batch, the same names with ``_image`` for one image. An
    instance of the image backend answers the plain names with the image forms.
    """

    _PER_TYPE = ("sample_params", "apply", "params_from_magnitude", "matrix_from_params", "transform")
    _UNSHOWN = (*BatchAugmentation._UNSHOWN, *_PER_TYPE)

    def __init__(self, backend: str = "batch") -> None:
        super().__init__()
        if backend not in ("batch", "image"):
            raise ValueError(f"backend must be 'batch' or 'image', got {backend!r}")
        self.backend = backend
        if backend == "image":
            for name in self._PER_TYPE:
                form = getattr(self, f"{name}_image", None)
                if form is not None:
                    self.__dict__[name] = form

    def forward(self, images, targets=None, *, generator=None, params=None, rng=None):
        if self.backend == "image":
            return _call_image(self, images, targets if rng is None else rng, params)
        return super().forward(images, targets, generator=generator, params=params)


def image_backend(cls: type) -> Any:
    """The image backend of a two-backend op as a factory named ``<Class>Image``: ``cls(..., backend="image")``."""

    def build(*args: Any, **kwargs: Any) -> Any:
        return cls(*args, backend="image", **kwargs)

    build.__name__ = build.__qualname__ = f"{cls.__name__}Image"
    build.__module__ = cls.__module__
    build.__doc__ = f"Image backend of ``{cls.__name__}``: ``{cls.__name__}(*args, backend='image', **kwargs)``."
    return build


def image_as_batch(img: np.ndarray) -> torch.Tensor:
    """One image as a batch of one, for an image form that runs its batch form. Shape: ``H x W x C`` (or
    ``H x W``) -> ``[1, C, H, W]`` uint8 (a copy)."""
    planes = img.reshape(img.shape[0], img.shape[1], -1)
    return torch.from_numpy(np.ascontiguousarray(planes.transpose(2, 0, 1)))[None]


def batch_as_image(out: torch.Tensor, like: np.ndarray) -> np.ndarray:
    """:func:`image_as_batch` undone: ``[1, C, H, W]`` -> a new array shaped as ``like``."""
    return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy()).reshape(like.shape).copy()

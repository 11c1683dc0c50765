"""``compose``: several augmentations applied one after the other, as one augmentation.

``ops`` holds built augmentations (modules or callables of the backend's convention) or SPEC strings
(``"brightness(max_delta=0.2)"``, ``"rand-m9-n2-mstd0.5"``; see :mod:`.spec`), built for the same
backend. Batch backend: each op gets the previous op's images and targets and the same
``torch.Generator``, so one seed reproduces the whole chain; mixing ops (cutmix, mixup) may sit
anywhere in it. Image backend: each op gets the previous image and the same NumPy ``Generator``.

Point ops on uint8 (``point_op = True``): a run of consecutive ones runs on the ``[B, C, 1, 256]`` ramp, which
gives every sample's composed table, then ONE pass over the pixels (:func:`effl_plugins.augment.fused.apply_lut`);
each op draws from the same generator in the same order, so the result is the ops' one by one, bit for bit.

Replay: ``last_params`` collects every op's own ``last_params`` (batch: one flat dict, keys prefixed
by the op's index, ``"1.angle"``; image: a list), and ``aug(x, params=...)`` hands each op its part.
An op without ``last_params`` (a plain function) cannot be replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import check_image, check_images
from .kernels.lut import apply_lut, identity_luts

__all__ = ["Compose", "ComposeImage"]


def _built_ops(ops: Any, backend: str) -> list[Any]:
    """Check ``ops`` and build its SPEC strings for ``backend``."""
    if isinstance(ops, str) or not isinstance(ops, (list, tuple)):
        raise TypeError(
            f"ops must be a list of augmentations or SPEC strings (a single SPEC goes in a list: "
            f"ops=[{ops!r}]), got {type(ops).__name__}"
        )
    if not ops:
        raise ValueError("ops must hold at least one augmentation or SPEC string, got an empty list")
    built = []
    for index, op in enumerate(ops):
        if isinstance(op, str):
            from .spec import build_augmentation

            op = build_augmentation(op, backend=backend)
            if op is None:
                raise ValueError(f"ops[{index}] is an empty SPEC string")
        elif not callable(op):
            raise TypeError(
                f"ops[{index}] must be an augmentation (a callable) or a SPEC string, got {type(op).__name__} {op!r}"
            )
        built.append(op)
    return built


def _size(ops: Sequence[Any]) -> Any:
    """The output size the chain ends at: the last op that sets one (crops with ``size=``), else None."""
    sizes = [getattr(op, "size", None) for op in ops]
    return next((s for s in reversed(sizes) if s is not None), None)


class _Function(nn.Module):
    """A plain ``fn(images, targets, *, generator=None) -> (images, targets)`` as a module."""

    def __init__(self, fn: Callable):
        super().__init__()
        self.fn = fn

    def forward(self, images, targets=None, *, generator=None):
        return self.fn(images, targets, generator=generator)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


class Compose(nn.Module):
    """Batch ops in order: ``ops[-1](... ops[0](images, targets) ...)``.

    Args:
        ops: augmentations for the batch backend (``nn.Module`` or callables
            ``f(images, targets, *, generator=None) -> (images, targets)``) or SPEC strings.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> ``[B, C, H', W']`` (``H' = H`` unless an op resizes),
        same dtype and device; targets as the ops leave them (soft ``[B, K]`` after a mixing op).

    Example:
        >>> aug = Compose(["brightness(max_delta=0.2)", "rotate(degrees=15)", "flip"])
        >>> x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> z, _ = aug(x, params=aug.last_params)
        >>> bool(torch.equal(y, z))
        True
    """

    #: Arguments of the conformance checks (effl_plugins.testing): a pipeline needs its ops.
    conformance_kwargs = {"ops": ["brightness(max_delta=0.2)", "rotate(degrees=15)", "flip"]}

    def __init__(self, ops: Sequence[Any]):
        super().__init__()
        built = _built_ops(ops, "batch")
        self.ops = nn.ModuleList(op if isinstance(op, nn.Module) else _Function(op) for op in built)
        self.size = _size(built)
        self.mixes_samples = any(getattr(op, "mixes_samples", False) for op in built)
        self.deterministic = all(getattr(op, "deterministic", False) for op in built)
        classes = [op.num_classes for op in built if getattr(op, "num_classes", None) is not None]
        if classes:
            self.num_classes = classes[-1]
        self.last_params: dict[str, Any] | None = None

    def forward(
        self,
        images: torch.Tensor,
        targets: Any = None,
        *,
        generator: torch.Generator | None = None,
        params: dict[str, Any] | None = None,
    ):
        check_images(images)
        if params is not None and not isinstance(params, dict):
            raise TypeError(f"params must be a dict (as in aug.last_params), got {type(params).__name__}")
        collected: dict[str, Any] = {}
        table = None  # the composed [B, C, 1, 256] table of the pending run of point ops
        for index, op in enumerate(self.ops):
            draw = {"generator": generator} if params is None else {"params": self._params_of(params, index, op)}
            if _folds(op, images):
                if table is None:
                    table = identity_luts(*images.shape[:2], images.device).unsqueeze(2)
                table, _ = op(table, None, **draw)
            else:
                if table is not None:
                    images, table = apply_lut(images, table.squeeze(2)), None
                images, targets = op(images, targets, **draw)
            for key, value in (getattr(op, "last_params", None) or {}).items():
                collected[f"{index}.{key}"] = value
        if table is not None:
            images = apply_lut(images, table.squeeze(2))
        self.last_params = collected
        return images, targets

    @staticmethod
    def _params_of(params: dict[str, Any], index: int, op: Any) -> dict[str, Any]:
        """Op ``index``'s part of a replayed ``last_params``."""
        if isinstance(op, _Function):
            raise ValueError(f"ops[{index}] ({op.extra_repr()}) is a plain function and cannot be replayed")
        prefix = f"{index}."
        return {key[len(prefix) :]: value for key, value in params.items() if key.startswith(prefix)}


def _folds(op: Any, images: torch.Tensor) -> bool:
    """Whether ``op`` runs on the table of a uint8 batch rather than on its pixels."""
    return getattr(op, "point_op", False) and images.dtype == torch.uint8 and images.shape[0] > 0


class ComposeImage:
    """Image ops in order on one ``H x W x C`` uint8 image, all drawing from one NumPy ``Generator``.

    Args:
        ops: augmentations for the image backend (callables ``t(img, rng=None) -> img``) or SPEC strings.

    Example:
        >>> aug = ComposeImage(["brightness(max_delta=0.2)", "flip"])
        >>> img = np.zeros((8, 8, 3), np.uint8)
        >>> aug(img, rng=0).shape
        (8, 8, 3)
    """

    #: Arguments of the conformance checks (effl_plugins.testing): a pipeline needs its ops.
    conformance_kwargs = {"ops": ["brightness(max_delta=0.2)", "rotate(degrees=15)", "flip"]}

    def __init__(self, ops: Sequence[Any]):
        self.ops = _built_ops(ops, "image")
        self.size = _size(self.ops)
        self.last_params: list[Any] | None = None

    def __call__(
        self, img: np.ndarray, rng: np.random.Generator | int | None = None, *, params: list[Any] | None = None
    ) -> np.ndarray:
        check_image(img)
        if params is not None and (not isinstance(params, (list, tuple)) or len(params) != len(self.ops)):
            raise ValueError(
                f"params must be a list of {len(self.ops)} per-op params (as in aug.last_params), got {params!r}"
            )
        generator = np.random.default_rng(rng)
        collected = []
        for index, op in enumerate(self.ops):
            if params is None:
                img = op(img, generator)
            elif params[index] is None:
                raise ValueError(f"ops[{index}] ({op!r}) recorded no parameters and cannot be replayed")
            else:
                img = op(img, params=params[index])
            collected.append(getattr(op, "last_params", None))
        self.last_params = collected
        return img

    def __repr__(self) -> str:
        return f"ComposeImage(ops={self.ops!r})"

"""The op set that RandAugment and TrivialAugment draw from (each entry a registered op class and the arguments
that make it the RandAugment op: ``shear_x`` is ``Shear(axis="x")``), and their magnitude sampling, timm's
``rand_augment_transform``: ``magnitude_std > 0`` draws each op's M from ``N(M, std)`` clipped to [0, 30],
``magnitude_std = inf`` from ``U(0, M)``.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..._validate import integer, number
from ..base import AffineOp, MagnitudeOp
from .magnitude import LEVEL_TO_ARG

__all__ = [
    "RAND_AUGMENT_OPS",
    "MAX_MAGNITUDE",
    "build_ops",
    "check_op_names",
    "check_rand_augment_args",
    "sample_magnitudes",
    "sample_magnitudes_image",
]

#: torchvision's RandAugment op set, in torchvision's order.
RAND_AUGMENT_OPS = tuple(LEVEL_TO_ARG)
MAX_MAGNITUDE = 30.0

#: op name -> (module under effl_plugins.augment, batch class, image class, constructor kwargs)
_SPECS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "identity": ("identity", "Identity", "IdentityImage", {}),
    "shear_x": ("shear", "Shear", "ShearImage", {"axis": "x"}),
    "shear_y": ("shear", "Shear", "ShearImage", {"axis": "y"}),
    "translate_x": ("translate", "Translate", "TranslateImage", {"axis": "x"}),
    "translate_y": ("translate", "Translate", "TranslateImage", {"axis": "y"}),
    "rotate": ("rotate", "Rotate", "RotateImage", {}),
    "brightness": ("brightness", "Brightness", "BrightnessImage", {"mode": "factor"}),
    "color": ("color", "Color", "ColorImage", {}),
    "contrast": ("contrast", "Contrast", "ContrastImage", {}),
    "sharpness": ("sharpness", "Sharpness", "SharpnessImage", {}),
    "posterize": ("posterize", "Posterize", "PosterizeImage", {}),
    "solarize": ("solarize", "Solarize", "SolarizeImage", {}),
    "auto_contrast": ("auto_contrast", "AutoContrast", "AutoContrastImage", {}),
    "equalize": ("equalize", "Equalize", "EqualizeImage", {}),
}
GEOMETRIC = frozenset({"shear_x", "shear_y", "translate_x", "translate_y", "rotate"})


def check_op_names(ops: Sequence[str] | None) -> tuple[str, ...]:
    if ops is None:
        return RAND_AUGMENT_OPS
    if isinstance(ops, str) or not isinstance(ops, (list, tuple)) or not ops or any(op not in _SPECS for op in ops):
        raise ValueError(f"ops must be a non-empty sequence of names from {RAND_AUGMENT_OPS}, got {ops!r}")
    return tuple(ops)


def build_ops(names: Sequence[str], backend: str, interpolation: str, fill: Any) -> list[MagnitudeOp | None]:
    """One op instance per name (``None`` for identity), each a :class:`~effl_plugins.augment.base.MagnitudeOp`;
    the geometric ones (:class:`~effl_plugins.augment.base.AffineOp`) get ``interpolation`` and ``fill``."""
    ops = []
    for name in names:
        if name == "identity":
            ops.append(None)
            continue
        module, batch_class, image_class, kwargs = _SPECS[name]
        cls = getattr(
            importlib.import_module(f"..{module}", __package__), batch_class if backend == "batch" else image_class
        )
        extra = {"interpolation": interpolation, "fill": fill} if name in GEOMETRIC else {}
        op = cls(**kwargs, **extra)
        if not isinstance(op, MagnitudeOp) or (name in GEOMETRIC and not isinstance(op, AffineOp)):
            raise TypeError(
                f"op {name!r} ({cls.__name__}) does not follow the op protocol of effl_plugins.augment.base"
            )
        ops.append(op)
    return ops


def check_rand_augment_args(num_ops: Any, magnitude: Any, magnitude_std: Any) -> tuple[int, float, float]:
    num_ops = integer(num_ops, "num_ops", low=0)
    magnitude = number(magnitude, "magnitude", low=0, high=MAX_MAGNITUDE, kind="a number")
    if magnitude_std != math.inf:
        magnitude_std = number(magnitude_std, "magnitude_std", low=0, note="or inf: magnitudes ~ U(0, magnitude)")
    return num_ops, magnitude, float(magnitude_std)


def sample_magnitudes(shape: tuple[int, ...], magnitude: float, std: float, device, generator=None) -> torch.Tensor:
    """Per-op magnitudes on the 0..1 scale (M / 30), float32 ``shape``."""
    if std == 0:  # no draw: M / 30 as the tensor division gives it, filled in
        dtype = torch.get_default_dtype()
        return torch.full(shape, _level(float(magnitude), dtype), dtype=dtype, device=device)
    where = generator.device if generator is not None else torch.device(device)
    if std == math.inf:
        values = torch.rand(shape, generator=generator, device=where) * magnitude
    else:
        values = (magnitude + std * torch.randn(shape, generator=generator, device=where)).clamp(0, MAX_MAGNITUDE)
    return (values / MAX_MAGNITUDE).to(device)


@functools.lru_cache(maxsize=64)
def _level(magnitude: float, dtype: torch.dtype) -> float:
    """``M / 30`` computed as a ``dtype`` tensor division (the value :func:`sample_magnitudes` fills in)."""
    return (torch.full((), magnitude, dtype=dtype) / MAX_MAGNITUDE).item()


def sample_magnitudes_image(count: int, magnitude: float, std: float, rng: np.random.Generator) -> np.ndarray:
    """The image backend's draw of :func:`sample_magnitudes` (same distribution), float32 ``[count]``."""
    if std == math.inf:
        values = rng.uniform(0, magnitude, size=count)
    elif std > 0:
        values = np.clip(rng.normal(magnitude, std, size=count), 0, MAX_MAGNITUDE)
    else:
        values = np.full(count, magnitude)
    return (values / MAX_MAGNITUDE).astype(np.float32)

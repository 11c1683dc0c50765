"""RandAugment's magnitude scale, shared by the ops that RandAugment and TrivialAugment compose.

:data:`LEVEL_TO_ARG` is the one table of how a magnitude ``m = M / 30`` in [0, 1] and a sign (+1 or -1, for the
signed ops) become each op's argument (timm's ``LEVEL_TO_ARG`` idea): every op's ``params_from_magnitude(images,
magnitude, sign)`` gives, in the form its ``apply`` takes, what torchvision's ``RandAugment._augmentation_space``
(num_bins=31) gives at bin M; the device path (:data:`RAND_AUGMENT_SPACE`, :data:`WIDE_SPACE`) and the fused
kernel read their ranges from it. Solarize compares as torchvision does
(:func:`effl_plugins.augment.solarize.solarize_level`); translate's shift is truncated toward zero after the sign.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass
from typing import Any

import torch

from ..._validate import choice, fraction

__all__ = [
    "Level",
    "LEVEL_TO_ARG",
    "MagnitudeSpace",
    "RAND_AUGMENT_SPACE",
    "WIDE_SPACE",
    "check_magnitudes",
    "checked_magnitudes",
    "magnitude_range_error",
    "check_magnitude",
    "enhance_factor",
    "posterize_bits",
    "bin_value",
    "bin_value_scalar",
    "MAX_ENHANCE",
]


@dataclass(frozen=True)
class Level:
    """How a magnitude ``m`` in [0, 1] (``M / 30``) and a sign become one op's argument: ``top`` at ``m = 1`` in
    RandAugment's space (translate: a fraction of the image size), ``wide`` in TrivialAugment's (translate: pixels),
    ``start`` at ``m = 0`` for the ops read from torchvision's ``linspace(start, top, 31)``. Whether the argument
    takes a random sign is the op's own ``signed``."""

    top: float = 0.0
    wide: float = 0.0
    start: float = 0.0


_ENHANCE_LEVEL = Level(top=0.9, wide=0.99)  # factor 1 + sign * top * m
_SHEAR_LEVEL = Level(top=0.3, wide=0.99)  # factor sign * top * m
_TRANSLATE_LEVEL = Level(top=150.0 / 331.0, wide=32.0)  # int(sign * linspace(0, top * size, 31)[M])

#: op name -> its :class:`Level`, for torchvision's RandAugment op set in torchvision's order
LEVEL_TO_ARG: dict[str, Level] = {
    "identity": Level(),
    "shear_x": _SHEAR_LEVEL,
    "shear_y": _SHEAR_LEVEL,
    "translate_x": _TRANSLATE_LEVEL,
    "translate_y": _TRANSLATE_LEVEL,
    "rotate": Level(top=30.0, wide=135.0),  # degrees sign * top * m
    "brightness": _ENHANCE_LEVEL,
    "color": _ENHANCE_LEVEL,
    "contrast": _ENHANCE_LEVEL,
    "sharpness": _ENHANCE_LEVEL,
    "posterize": Level(top=4.0, wide=6.0),  # bits 8 - round(top * m)
    "solarize": Level(start=1.0, top=0.0, wide=0.0),  # threshold linspace(start, top, 31)[M]
    "auto_contrast": Level(),
    "equalize": Level(),
}

#: torchvision's enhance range: factors 1 +- 0.9 at the top magnitude.
MAX_ENHANCE = LEVEL_TO_ARG["brightness"].top


@dataclass(frozen=True)
class MagnitudeSpace:
    """One column of :data:`LEVEL_TO_ARG` as the device path reads it: ``translate=None`` is RandAugment's fraction of
    the image size, a number pixels; amounts (angle, shear, posterize steps) are computed in ``amount_dtype``."""

    enhance: float
    rotate: float
    shear: float
    translate: float | None
    posterize: float
    amount_dtype: torch.dtype = torch.float32


def _space(column: str, translate: float | None, amount_dtype: torch.dtype) -> MagnitudeSpace:
    top = {name: getattr(level, column) for name, level in LEVEL_TO_ARG.items()}
    return MagnitudeSpace(
        top["brightness"], top["rotate"], top["shear_x"], translate, top["posterize"], amount_dtype=amount_dtype
    )


#: RandAugment's ranges (torchvision's 31 bins)
RAND_AUGMENT_SPACE = _space("top", None, torch.float32)
#: TrivialAugment's wide ranges (torchvision's ``TrivialAugmentWide``)
WIDE_SPACE = _space("wide", LEVEL_TO_ARG["translate_x"].wide, torch.float64)

_TRUST = threading.local()


@contextlib.contextmanager
def checked_magnitudes():
    """Inside: :func:`check_magnitudes` skips its range check, for callers that checked every slot's magnitudes and
    signs once (RandAugment's ``_checked``)."""
    previous = getattr(_TRUST, "checked", False)
    _TRUST.checked = True
    try:
        yield
    finally:
        _TRUST.checked = previous


def magnitude_range_error(magnitude: torch.Tensor, sign: torch.Tensor) -> ValueError | None:
    """The error for magnitudes outside [0, 1] (M / 30) or signs other than +-1 (CPU tensors), or None."""
    if bool(((magnitude >= 0) & (magnitude <= 1) & (sign.abs() == 1)).all()):  # one reduction (NaN fails it)
        return None
    if not bool(((magnitude >= 0) & (magnitude <= 1)).all()):
        return ValueError(
            f"magnitude must lie in [0, 1] (M / 30), got values from {magnitude.min().item()} to "
            f"{magnitude.max().item()}"
        )
    return ValueError(f"sign must hold +1 or -1, got {sign.tolist()}")


def check_magnitudes(images: torch.Tensor, magnitude: Any, sign: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate batch magnitudes ``[B]`` in [0, 1] and signs ``[B]`` of +-1; return float32 on the images' device.
    On an accelerator the values are clamped instead of checked, so that a call never waits for the device."""
    batch = images.shape[0]
    out = []
    for name, value in (("magnitude", magnitude), ("sign", sign)):
        if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point:
            raise TypeError(
                f"{name} must be a floating torch.Tensor of shape [{batch}], got {type(value).__name__} "
                f"{getattr(value, 'dtype', '')}"
            )
        if tuple(value.shape) != (batch,):
            raise ValueError(f"{name} must have shape [{batch}] (one per image), got {tuple(value.shape)}")
        out.append(value.to(images.device, torch.float32))
    magnitude, sign = out
    if magnitude.device.type != "cpu":
        return magnitude.clamp(0, 1), torch.where(sign < 0, -1.0, 1.0).to(magnitude)
    if getattr(_TRUST, "checked", False):
        return magnitude, sign  # the caller checked them (``checked_magnitudes``)
    error = magnitude_range_error(magnitude, sign)
    if error is not None:
        raise error
    return magnitude, sign  # checked: already in range


def check_magnitude(magnitude: Any, sign: Any = 1) -> tuple[float, float]:
    """Validate one image's magnitude in [0, 1] and sign +-1."""
    magnitude = fraction(magnitude, "magnitude", kind="a number", note="M / 30")
    return magnitude, float(choice(sign, "sign", (1, -1)))


def enhance_factor(magnitude, sign):
    """Brightness/color/contrast/sharpness factor ``1 + sign * 0.9 * magnitude`` (tensors or floats)."""
    return 1.0 + sign * MAX_ENHANCE * magnitude


def posterize_bits(magnitude):
    """Bits kept by posterize: ``8 - round(4 * magnitude)``, from 8 (no change) down to 4."""
    top = LEVEL_TO_ARG["posterize"].top
    if isinstance(magnitude, torch.Tensor):
        return 8 - torch.round(top * magnitude).long()
    return 8 - int(round(top * magnitude))


def bin_value(start: float | torch.Tensor, end: float | torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """``torch.linspace(start, end, 31)`` at bin ``30 * magnitude``, float32, elementwise: torch's own arithmetic
    (``start + step * i`` below the middle bin, ``end - step * (30 - i)`` from it, each a fused multiply-add), so
    integer bins give its values bit for bit and fractional bins (magnitude noise) move smoothly between them.

    Shape:
        magnitude ``[...]`` float32 in [0, 1]; start, end numbers or tensors broadcastable to it -> ``magnitude.shape``.
    """
    position = magnitude.to(torch.float32) * 30

    def scalar(value):  # a number becomes a device-side fill, never a host-to-device copy
        if isinstance(value, torch.Tensor):
            return value.to(magnitude.device, torch.float32)
        return torch.full((), float(value), dtype=torch.float32, device=magnitude.device)

    first, last = scalar(start), scalar(end)
    step = (last - first) / 30
    below, above = torch.addcmul(first, step, position), torch.addcmul(last, step, 30 - position, value=-1)
    return torch.where(position < 15, below, above)


@functools.lru_cache(maxsize=4096)
def bin_value_scalar(start: float, end: float, magnitude: float) -> float:
    """:func:`bin_value` for one magnitude (the image backend), remembered: RandAugment's magnitudes repeat."""
    return float(bin_value(start, end, torch.tensor([magnitude], dtype=torch.float32))[0])

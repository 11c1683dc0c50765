"""The data configuration a model expects, as timm resolves it from the model's ``pretrained_cfg``
(input size, interpolation, normalisation mean and std, the eval ``crop_pct``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .._validate import INTERPOLATIONS, is_number

__all__ = ["DataConfig", "resolve_data_config", "INTERPOLATIONS"]


_DEFAULTS = {
    "input_size": (3, 224, 224),
    "interpolation": "bicubic",
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "crop_pct": 0.875,
}


@dataclass(frozen=True)
class DataConfig:
    """timm's data config: what the model was built (or pretrained) to see.

    Attributes:
        input_size: ``(C, H, W)`` of one image.
        interpolation: resize filter, one of :data:`INTERPOLATIONS`.
        mean, std: per-channel normalisation on the 0..1 scale (``C`` values each).
        crop_pct: eval resize to ``size / crop_pct``, then a centre crop of ``size``; in ``(0, 1]``.

    timm's ``crop_mode`` is not carried: the eval transform is always timm's default centre crop.

    Example:
        >>> cfg = DataConfig((3, 32, 32), "bilinear", (0.5,) * 3, (0.25,) * 3, 1.0)
        >>> DataConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    input_size: tuple[int, int, int]
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_pct: float

    def __post_init__(self) -> None:
        size = _int_tuple("input_size", self.input_size, 3)
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "interpolation", _interpolation("interpolation", self.interpolation))
        object.__setattr__(self, "mean", _channels("mean", self.mean, size[0]))
        object.__setattr__(self, "std", _channels("std", self.std, size[0], positive=True))
        object.__setattr__(self, "crop_pct", _crop_pct("crop_pct", self.crop_pct))

    @property
    def img_size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.input_size[1], self.input_size[2]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, with timm's key names (``timm.data.create_transform(**cfg.to_dict())`` works)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        """From :meth:`to_dict` or timm's resolved config (extra keys such as ``crop_mode`` are ignored)."""
        if not isinstance(d, Mapping):
            raise TypeError(f"data config must be a mapping, got {type(d).__name__}")
        missing = [k for k in _DEFAULTS if k not in d]
        if missing:
            raise ValueError(f"data config lacks {missing}; it needs {list(_DEFAULTS)}, got keys {sorted(d)}")
        return cls(**{k: d[k] for k in _DEFAULTS})


def resolve_data_config(
    model: Any = None,
    *,
    saved: Mapping[str, Any] | None = None,
    img_size: int | Sequence[int] | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
    interpolation: str | None = None,
    crop_pct: float | None = None,
) -> DataConfig:
    """The data config for ``model``: its ``pretrained_cfg``, then ``saved``, then the overrides.

    Args:
        model: a timm model (``timm.data.resolve_data_config(model=model)`` is read), or None for
            timm's ImageNet defaults (224 px, bicubic, ImageNet mean/std, crop_pct 0.875).
        saved: a checkpoint's ``data_config`` (:meth:`DataConfig.to_dict`); its keys win over the model's.
        img_size: ``--img-size``, an int (square) or ``(H, W)``.
        mean, std: ``--mean`` / ``--std``, one value (every channel) or one per channel; std > 0.
        interpolation: ``--interpolation``, one of :data:`INTERPOLATIONS`.
        crop_pct: ``--crop-pct`` in ``(0, 1]``.
    """
    resolved: dict[str, Any] = dict(_DEFAULTS)
    if model is not None:
        import timm.data

        timm_cfg = timm.data.resolve_data_config(model=model)
        resolved.update({k: timm_cfg[k] for k in _DEFAULTS if timm_cfg.get(k) is not None})
    if saved is not None:
        if not isinstance(saved, Mapping):
            raise TypeError(f"saved data config must be a mapping, got {type(saved).__name__}")
        resolved.update({k: saved[k] for k in _DEFAULTS if saved.get(k) is not None})
    chans = _int_tuple("input_size", resolved["input_size"], 3)[0]
    if img_size is not None:
        if isinstance(img_size, (bool, str, float)):
            raise TypeError(f"--img-size must be a positive int or (H, W), got {img_size!r}")
        size = (img_size, img_size) if isinstance(img_size, int) else img_size
        resolved["input_size"] = (chans, *_int_tuple("--img-size", size, 2))
    if mean is not None:
        resolved["mean"] = _channels("--mean", mean, chans)
    if std is not None:
        resolved["std"] = _channels("--std", std, chans, positive=True)
    if interpolation is not None:
        resolved["interpolation"] = _interpolation("--interpolation", interpolation)
    if crop_pct is not None:
        resolved["crop_pct"] = _crop_pct("--crop-pct", crop_pct)
    return DataConfig.from_dict(resolved)


def _int_tuple(name: str, value: Any, length: int) -> tuple[int, ...]:
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of {length} positive ints, got {value!r}") from None
    if len(items) != length or not all(
        not isinstance(v, bool) and hasattr(v, "__index__") and int(v) > 0 for v in items
    ):
        raise ValueError(f"{name} must be {length} positive ints, got {value!r}")
    return tuple(int(v) for v in items)


def _channels(name: str, value: Any, chans: int, positive: bool = False) -> tuple[float, ...]:
    items = (value,) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        floats = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a sequence of 1 or {chans} numbers, got {value!r}") from None
    if len(floats) == 1:
        floats *= chans
    if len(floats) != chans:
        raise ValueError(f"{name} must have 1 or {chans} values (one per channel), got {len(floats)}: {value!r}")
    if not all(math.isfinite(v) for v in floats) or (positive and min(floats) <= 0):
        allowed = "finite values > 0" if positive else "finite values"
        raise ValueError(f"{name} must hold {allowed}, got {value!r}")
    return floats


def _interpolation(name: str, value: Any) -> str:
    if value not in INTERPOLATIONS:
        raise ValueError(f"{name} must be one of {', '.join(INTERPOLATIONS)}, got {value!r}")
    return value


def _crop_pct(name: str, value: Any) -> float:
    if not is_number(value):
        raise TypeError(f"{name} must be a number in (0, 1], got {value!r}")
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)

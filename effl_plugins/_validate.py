"""Argument checks shared by every module: numbers with bounds, integers, probabilities, choices, and
what kind of file a path that must be a regular file is instead.

Each checker returns the value normalised (``float`` or ``int``) and raises ``ValueError`` naming the
argument, the value given and what is allowed: ``temperature must be a finite number > 0, got 0``; a
value of the wrong type (a string, ``None``, a ``bool``) too, so one ``except ValueError`` covers every
bad argument. ``note`` adds what the argument means, in parentheses before the value:
``epochs must be an integer >= 1 (passes over the data), got 0``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "AMP_MODES",
    "CLIP_MODES",
    "DEVICES",
    "ERASE_MODES",
    "INTERPOLATIONS",
    "MIXUP_MODES",
    "choice",
    "device",
    "fraction",
    "integer",
    "is_number",
    "non_negative",
    "number",
    "positive",
    "probability",
]

# The values of settings that are checked where the command line is parsed (without torch) and where they are used.
AMP_MODES = ("auto", "bf16", "fp16", "off")
#: timm's gradient clipping modes (``dispatch_clip_grad``): total norm, each value, adaptive (AGC).
CLIP_MODES = ("norm", "value", "agc")
#: Random Erasing's values (timm's ``--remode``): zeros, a normal colour per box, normal noise per pixel.
ERASE_MODES = ("const", "rand", "pixel")
#: Interpolation names timm's transforms accept (``timm.data.transforms.str_to_interp_mode``).
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
MIXUP_MODES = ("batch", "pair", "elem")

#: The device names ``--device`` takes (the machine may still lack the one named).
DEVICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def is_number(value: Any) -> bool:
    """A real number given as ``int`` or ``float`` (``bool`` excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fail(name: str, what: str, value: Any, note: str | None) -> ValueError:
    return ValueError(f"{name} must be {what}{f' ({note})' if note else ''}, got {value!r}")


def number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    kind: str | None = None,
    note: str | None = None,
) -> float:
    """``value`` as a finite float within the bounds given (``low`` / ``high``, open or closed).

    ``kind`` names what is asked for in the message (default: "a finite number"; with both bounds
    only the interval: ``momentum must be in [0, 1), got 1.5``).
    """
    if low is not None and high is not None:
        what = f"{kind + ' ' if kind else ''}in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    else:
        what = kind or "a finite number"
        if low is not None:
            what += f" {'>' if low_open else '>='} {low:g}"
        if high is not None:
            what += f" {'<' if high_open else '<='} {high:g}"
    if not is_number(value) or not math.isfinite(value):
        raise _fail(name, what, value, note)
    if low is not None and (value < low or (low_open and value == low)):
        raise _fail(name, what, value, note)
    if high is not None and (value > high or (high_open and value == high)):
        raise _fail(name, what, value, note)
    return float(value)


def positive(value: Any, name: str, *, note: str | None = None) -> float:
    """A finite number > 0."""
    return number(value, name, low=0, low_open=True, note=note)


def non_negative(value: Any, name: str, *, note: str | None = None) -> float:
    """A finite number >= 0."""
    return number(value, name, low=0, note=note)


def fraction(
    value: Any, name: str, *, below_one: bool = False, kind: str | None = None, note: str | None = None
) -> float:
    """A number in ``[0, 1]`` (``[0, 1)`` with ``below_one``): a share, a weight, a momentum."""
    return number(value, name, low=0, high=1, high_open=below_one, kind=kind, note=note)


def probability(value: Any, name: str = "p", *, note: str | None = None) -> float:
    """A probability in ``[0, 1]``: how often an augmentation applies, a confidence threshold."""
    return fraction(value, name, kind="a probability", note=note)


def integer(
    value: Any,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
    optional: bool = False,
    note: str | None = None,
) -> int | None:
    """``value`` as an ``int`` within ``[low, high]``; ``None`` passes through when ``optional``."""
    if optional and value is None:
        return None
    what = "an integer"
    if low is not None and high is not None:
        what += f" in [{low}, {high}]"
    elif low is not None:
        what += f" >= {low}"
    elif high is not None:
        what += f" <= {high}"
    if optional:
        what = f"None or {what}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (low is not None and value < low)
        or (high is not None and value > high)
    ):
        raise _fail(name, what, value, note)
    return int(value)


def choice(value: Any, name: str, allowed: Iterable[Any], *, note: str | None = None) -> Any:
    """``value`` when it is one of ``allowed`` (compared with ``==``, ``bool`` never standing for 0 or 1)."""
    allowed = tuple(allowed)
    if not any(value == option and isinstance(value, bool) == isinstance(option, bool) for option in allowed):
        raise _fail(name, f"one of {allowed!r}", value, note)
    return value


def device(value: Any, name: str = "--device") -> str:
    """``value`` when it names a device kind (:data:`DEVICES`); whether this machine has it is not checked."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise ValueError(f"{name} must be {DEVICES}, got {value!r}")
    return value


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, for a message saying it is not a regular file: ``"a directory"``,
    ``"a character device"``, ``"a block device"``, ``"a named pipe"``, ``"a socket"``, else ``"a special file"``."""
    import stat

    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")

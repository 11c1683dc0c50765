"""One image's 3x3 forward affine matrices in NumPy float64, for the image backend.

The same maps as :mod:`effl_plugins.augment.matrices` (same coordinate convention, same
composition order, exact entries for quarter turns), built from Python floats: one image's matrix
costs a few microseconds here, against hundreds through a batch of one tensor, where every small
torch op pays its dispatch. The two agree to float32 rounding of the batch matrices, which moves a
nearest-neighbour sample only where a source coordinate lies within about 1e-5 pixel of a tie.

Shape:
    every builder returns a ``[3, 3]`` float64 array.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["translation", "rotation", "scaling", "shear", "about"]

_QUARTER_TURNS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))  # (cos, sin) of 0, 90, 180, 270 degrees


def _matrix(a: float, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def translation(tx: float, ty: float) -> np.ndarray:
    """Move every pixel by ``(tx, ty)`` pixels (positive = right / down)."""
    return _matrix(1.0, 0.0, float(tx), 0.0, 1.0, float(ty))


def rotation(degrees: float) -> np.ndarray:
    """Counter-clockwise rotation about the origin; exact for multiples of 90 degrees."""
    degrees = float(degrees)
    if degrees % 90 == 0:
        cos, sin = _QUARTER_TURNS[round(degrees / 90) % 4]
    else:
        cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return _matrix(cos, sin, 0.0, -sin, cos, 0.0)


def scaling(sx: float, sy: float | None = None) -> np.ndarray:
    """Scale about the origin (``> 1`` zooms in)."""
    return _matrix(float(sx), 0.0, 0.0, 0.0, float(sx if sy is None else sy), 0.0)


def shear(sx: float, sy: float) -> np.ndarray:
    """Shear by factors ``sx`` (along x) then ``sy`` (along y), as :func:`effl_plugins.augment.matrices.shear`."""
    sx, sy = float(sx), float(sy)
    return _matrix(1.0, -sx, 0.0, -sy, 1.0 + sx * sy, 0.0)


def about(matrix: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """The same linear map about the point ``(cx, cy)`` instead of the origin: ``T(c) @ M @ T(-c)``."""
    centre = np.array([cx, cy], dtype=np.float64)
    out = np.array(matrix, dtype=np.float64)
    out[:2, 2] = matrix[:2, 2] + centre - matrix[:2, :2] @ centre
    return out

"""3x3 affine matrices for the geometric augmentations, composed by matrix product: batched torch builders for
the batch backend and one image's NumPy float64 builders (the ``*_image`` functions) for the image backend.

Coordinate convention (the same as OpenCV's ``warpAffine``): ``x`` is the column, ``y`` the row
(pointing down), and pixel ``(row i, column j)`` has its centre at ``(x, y) = (j, i)``. The image
centre is therefore ``((W - 1) / 2, (H - 1) / 2)``, as in torchvision and PIL; the top-left corner
of the image (PIL's and torchvision's ``center=[0, 0]``) is ``(-0.5, -0.5)``.

Every matrix here is a FORWARD map: it sends an input pixel position to the output position,
exactly like the ``M`` that ``cv2.getAffineTransform(src, dst)`` returns and ``cv2.warpAffine``
takes. "First ``A``, then ``B``" is ``B @ A``. :func:`effl_plugins.augment.functional.warp.warp_affine` inverts
the product once and samples the input at the inverse-mapped output pixel centres.

Angles are in degrees, positive = counter-clockwise on screen (``torchvision.transforms.v2.functional.rotate``
and ``cv2.getRotationMatrix2D``); multiples of 90 degrees give exact 0/±1 entries.

The ``*_image`` builders give the same maps from Python floats; the two agree to float32 rounding of the batch
matrices.

Shape:
    every batched builder takes ``[B]`` tensors and returns ``[B, 3, 3]`` float32 matrices; every ``*_image``
    builder takes numbers and returns a ``[3, 3]`` float64 array.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "identity",
    "translation",
    "rotation",
    "scaling",
    "shear",
    "about",
    "flip",
    "affine_from_points",
    "translation_image",
    "rotation_image",
    "scaling_image",
    "shear_image",
    "about_image",
]


def _stack(rows: list[list[torch.Tensor | float]], like: torch.Tensor) -> torch.Tensor:
    """``[[a, b, c], [d, e, f]]`` of ``[B]`` tensors or numbers -> ``[B, 3, 3]`` with last row ``0 0 1``."""
    batch = like.shape[0]

    def full(v):
        return (
            v.to(torch.float32) if isinstance(v, torch.Tensor) else torch.full((batch,), float(v), device=like.device)
        )

    entries = [full(v) for row in rows for v in row] + [full(0.0), full(0.0), full(1.0)]
    return torch.stack(entries, dim=-1).view(batch, 3, 3)


def identity(batch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[B, 3, 3]`` identity matrices."""
    return torch.eye(3, device=device).expand(batch, 3, 3).contiguous()


def translation(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """Move every pixel by ``(tx, ty)`` pixels (positive = right / down)."""
    return _stack([[1.0, 0.0, tx], [0.0, 1.0, ty]], tx)


def rotation(degrees: torch.Tensor) -> torch.Tensor:
    """Counter-clockwise rotation about the origin; exact for multiples of 90 degrees."""
    radians = torch.deg2rad(degrees.to(torch.float32))
    cos, sin = torch.cos(radians), torch.sin(radians)
    quarter = torch.remainder(degrees, 90) == 0
    turns = torch.remainder(torch.round(degrees / 90), 4).long()
    exact_cos = (turns == 0).to(torch.float32) - (turns == 2).to(torch.float32)
    exact_sin = (turns == 1).to(torch.float32) - (turns == 3).to(torch.float32)
    cos, sin = torch.where(quarter, exact_cos, cos), torch.where(quarter, exact_sin, sin)
    # y points down, so a counter-clockwise turn on screen is x' = cos x + sin y, y' = -sin x + cos y.
    return _stack([[cos, sin, 0.0], [-sin, cos, 0.0]], degrees)


def scaling(sx: torch.Tensor, sy: torch.Tensor | None = None) -> torch.Tensor:
    """Scale about the origin (``> 1`` zooms in)."""
    return _stack([[sx, 0.0, 0.0], [0.0, sx if sy is None else sy, 0.0]], sx)


def shear(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """Shear by factors ``sx`` (along x) then ``sy`` (along y), torchvision's ``SHy @ SHx``.

    The output sampled at ``(x, y)`` reads the input at ``(x + sx * y, y)`` for a pure x shear (PIL's
    ``(1, sx, 0, 0, 1, 0)``, torchvision ``affine(shear=[degrees(atan(sx)), 0])``); likewise for y.
    """
    return _stack([[1.0, -sx, 0.0], [-sy, 1.0 + sx * sy, 0.0]], sx)


def flip(horizontal: torch.Tensor, vertical: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Mirror the columns (``horizontal``) and/or the rows (``vertical``) of an ``H x W`` image; bool ``[B]``."""
    hx = torch.where(horizontal, -1.0, 1.0)
    vy = torch.where(vertical, -1.0, 1.0)
    return _stack(
        [[hx, 0.0, torch.where(horizontal, width - 1.0, 0.0)], [0.0, vy, torch.where(vertical, height - 1.0, 0.0)]], hx
    )


def about(matrix: torch.Tensor, cx: torch.Tensor | float, cy: torch.Tensor | float) -> torch.Tensor:
    """The same linear map about the point ``(cx, cy)`` instead of the origin: ``T(c) @ M @ T(-c)``."""
    cx, cy = (torch.as_tensor(v, dtype=torch.float32, device=matrix.device) for v in (cx, cy))
    c = torch.stack(torch.broadcast_tensors(cx, cy), -1).expand(matrix.shape[0], 2)
    out = matrix.clone()
    out[:, :2, 2] = matrix[:, :2, 2] + c - (matrix[:, :2, :2] @ c.unsqueeze(-1)).squeeze(-1)
    return out


def affine_from_points(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """The affine map sending three source points onto three destination points (``cv2.getAffineTransform``).

    Args:
        src, dst: ``[B, 3, 2]`` (or ``[3, 2]``) ``(x, y)`` point triples in pixel coordinates.

    Returns:
        ``[B, 3, 3]`` forward matrices. Collinear source points have no such map: the result is non-finite.
    """
    src, dst = torch.as_tensor(src), torch.as_tensor(dst)
    if src.ndim == 2:
        src, dst = src.unsqueeze(0), dst.unsqueeze(0)
    work = torch.float64 if src.device.type == "cpu" else torch.float32
    ones = torch.ones(*src.shape[:-1], 1, dtype=work, device=src.device)
    points = torch.cat([src.to(work), ones], -1)  # [B, 3, 3], rows (x, y, 1)
    # points @ M^T = dst  ->  M^T = points^-1 @ dst; the 3x3 inverse by cofactors (no host sync).
    a, b, c = points[:, 0], points[:, 1], points[:, 2]
    cofactors = torch.stack([torch.linalg.cross(b, c), torch.linalg.cross(c, a), torch.linalg.cross(a, b)], dim=-1)
    det = (a * torch.linalg.cross(b, c)).sum(-1)
    inverse = cofactors / det[:, None, None]
    top = (inverse @ dst.to(work)).transpose(1, 2)  # [B, 2, 3]
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=work, device=src.device).expand(src.shape[0], 1, 3)
    return torch.cat([top, bottom], 1).to(torch.float32)


_QUARTER_TURNS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))  # (cos, sin) of 0, 90, 180, 270 degrees


def _matrix(a: float, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def translation_image(tx: float, ty: float) -> np.ndarray:
    """Move every pixel by ``(tx, ty)`` pixels (positive = right / down)."""
    return _matrix(1.0, 0.0, float(tx), 0.0, 1.0, float(ty))


def rotation_image(degrees: float) -> np.ndarray:
    """Counter-clockwise rotation about the origin; exact for multiples of 90 degrees."""
    degrees = float(degrees)
    if degrees % 90 == 0:
        cos, sin = _QUARTER_TURNS[round(degrees / 90) % 4]
    else:
        cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return _matrix(cos, sin, 0.0, -sin, cos, 0.0)


def scaling_image(sx: float, sy: float | None = None) -> np.ndarray:
    """Scale about the origin (``> 1`` zooms in)."""
    return _matrix(float(sx), 0.0, 0.0, 0.0, float(sx if sy is None else sy), 0.0)


def shear_image(sx: float, sy: float) -> np.ndarray:
    """Shear by factors ``sx`` (along x) then ``sy`` (along y), as :func:`shear`."""
    sx, sy = float(sx), float(sy)
    return _matrix(1.0, -sx, 0.0, -sy, 1.0 + sx * sy, 0.0)


def about_image(matrix: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """The same linear map about the point ``(cx, cy)`` instead of the origin: ``T(c) @ M @ T(-c)``."""
    centre = np.array([cx, cy], dtype=np.float64)
    out = np.array(matrix, dtype=np.float64)
    out[:2, 2] = matrix[:2, 2] + centre - matrix[:2, :2] @ centre
    return out

"""Affine: a random rotation + scale + shear + shift per sample, or the map of three point pairs.

Two ways to give the transform (an affine map: lines stay lines, parallels stay parallel):

- random, torchvision's ``RandomAffine``: ``degrees``, ``translate`` (fractions), ``scale``, ``shear``
  (degrees), composed about the image centre as ``T(shift) @ C @ R @ S @ SHy @ SHx @ C^-1``.
  Angles are counter-clockwise (like ``rotate``); torchvision's ``F.affine`` takes clockwise angles,
  so our ``angle`` equals ``F.affine(angle=-angle, ...)``;
- three point pairs, ``cv2.getAffineTransform``: ``src_points`` / ``dst_points`` ``[3, 2]`` (one map
  for all) or ``[B, 3, 2]`` tensors (one map per sample); or ``point_jitter`` > 0: three fixed points
  moved by a random fraction of the image size, every sample its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from .._validate import fraction, is_number
from .base import bernoulli, image_backend, uniform
from .functional import matrices
from .geometric import GeometricAugmentation, check_range

__all__ = ["Affine", "AffineImage", "affine_matrix", "affine_matrix_image", "check_points"]

#: The three points ``point_jitter`` moves, as fractions of (width, height).
ANCHORS = ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75))


def affine_matrix(params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """``[B, 3, 3]`` forward matrices from ``{"matrix"}`` or ``{"angle", "translate", "scale", "shear"}`` params."""
    if "matrix" in params:
        matrix = params["matrix"].to(torch.float32)
        if matrix.shape[-2] == 2:  # the last row, 0 0 1
            matrix = torch.cat([matrix, matrices.identity(len(matrix), matrix.device)[:, 2:]], 1)
        return matrix
    shear = torch.tan(torch.deg2rad(params["shear"].to(torch.float32)))
    linear = (
        matrices.rotation(params["angle"])
        @ matrices.scaling(params["scale"])
        @ matrices.shear(shear[:, 0], shear[:, 1])
    )
    centred = matrices.about(linear, (width - 1) / 2, (height - 1) / 2)
    return matrices.translation(params["translate"][:, 0], params["translate"][:, 1]) @ centred


def affine_matrix_image(params: dict[str, Any], height: int, width: int) -> np.ndarray:
    """One image's ``[3, 3]`` float64 forward matrix from ``{"angle", "translate", "scale", "shear"}`` params (see
    ``affine_matrix``)."""
    shear_x, shear_y = np.tan(np.deg2rad(np.asarray(params["shear"], dtype=np.float64).reshape(2)))
    linear = (
        matrices.rotation_image(params["angle"])
        @ matrices.scaling_image(params["scale"])
        @ matrices.shear_image(shear_x, shear_y)
    )
    centred = matrices.about_image(linear, (width - 1) / 2, (height - 1) / 2)
    return matrices.translation_image(*np.asarray(params["translate"], dtype=np.float64).reshape(2)) @ centred


def check_points(points: Any, name: str, batched: bool = True) -> np.ndarray | torch.Tensor:
    """``[3, 2]`` point arrays (or ``[B, 3, 2]`` tensors when ``batched``) of ``(x, y)`` pixel positions."""
    if (
        isinstance(points, torch.Tensor)
        and batched
        and points.ndim == 3
        and points.shape[1:] == (3, 2)
        and points.is_floating_point()
    ):
        return points
    array = np.asarray(points.cpu() if isinstance(points, torch.Tensor) else points, dtype=np.float64)
    if array.shape != (3, 2) or not np.isfinite(array).all():
        allowed = "[3, 2] (x, y) points, or a float tensor [B, 3, 2]" if batched else "[3, 2] (x, y) points"
        raise ValueError(f"{name} must be {allowed}, got shape {tuple(array.shape)}: {points!r}")
    return array


def _check_collinear(points: np.ndarray, name: str, consequence: str) -> None:
    (x0, y0), (x1, y1), (x2, y2) = points
    if abs((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)) < 1e-9:
        raise ValueError(f"{name} are collinear, so {consequence}; got {points.tolist()}")


class Affine(GeometricAugmentation):
    """Per-sample random affine warp, or the affine map of three point pairs.

    Args:
        degrees: rotation range (``d`` -> ``U(-d, d)``), counter-clockwise degrees.
        translate: ``(max_dx, max_dy)`` fractions of the size; shifts are rounded to whole pixels.
        scale: ``(low, high)`` zoom range, ``0 < low``. shear: degrees: ``s``, ``(low, high)`` (x) or ``(x0, x1, y0,
        y1)``.
        src_points, dst_points: ``[3, 2]`` or ``[B, 3, 2]`` ``(x, y)`` pixel positions; replace the random transform.
        point_jitter: > 0 moves three fixed points by ``U(-j, j) * (W, H)`` per sample instead.
        interpolation, fill, p: see :class:`~effl_plugins.augment.geometric.GeometricAugmentation`.

    ``backend="image"``: ``cv2.getAffineTransform`` (point pairs, ``[3, 2]`` only) and ``cv2.warpAffine``; params as
    the batch's for one image.

    Shape:
        ``[B, C, H, W]`` -> same. params: ``angle`` ``[B]``, ``translate`` ``[B, 2]`` px, ``scale`` ``[B]``,
        ``shear`` ``[B, 2]`` degrees; or ``matrix`` ``[B, 3, 3]`` for point pairs.

    Example:
        >>> src = [[0, 0], [7, 0], [0, 7]]
        >>> aug = Affine(src_points=src, dst_points=[[1, 0], [8, 0], [1, 7]])  # a one-pixel shift right
        >>> x = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8)
        >>> torch.equal(aug(x)[0][..., 1:], x[..., :7])
        True
    """

    def __init__(
        self,
        degrees: float | tuple[float, float] = 15.0,
        translate: tuple[float, float] | None = (0.1, 0.1),
        scale: tuple[float, float] | None = (0.9, 1.1),
        shear: float | Sequence[float] | None = 10.0,
        src_points: Any = None,
        dst_points: Any = None,
        point_jitter: float = 0.0,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        p: float = 1.0,
        *,
        backend: str = "batch",
    ):
        super().__init__(interpolation, fill, p, backend=backend)
        batched = self.backend == "batch"
        self.degrees = check_range(degrees, "degrees")
        if translate is not None and (
            not isinstance(translate, (list, tuple))
            or len(translate) != 2
            or not all(is_number(t) and 0 <= t <= 1 for t in translate)
        ):
            raise ValueError(f"translate must be None or (max_dx, max_dy) fractions in [0, 1], got {translate!r}")
        self.translate = None if translate is None else (float(translate[0]), float(translate[1]))
        self.scale = None if scale is None else check_range(scale, "scale", symmetric=False)
        if self.scale is not None and self.scale[0] <= 0:
            raise ValueError(f"scale must be a (low, high) pair in (0, ...] with low <= high, got {scale!r}")
        self.shear = self._check_shear(shear)
        self.point_jitter = fraction(point_jitter, "point_jitter", kind="a fraction of the image size")
        if (src_points is None) != (dst_points is None):
            raise ValueError(
                f"src_points and dst_points go together, got src_points={src_points!r}, dst_points={dst_points!r}"
            )
        self.src_points = None if src_points is None else check_points(src_points, "src_points", batched)
        self.dst_points = None if dst_points is None else check_points(dst_points, "dst_points", batched)
        if isinstance(self.src_points, np.ndarray):
            _check_collinear(self.src_points, "src_points", "no affine map sends them onto dst_points")
        if isinstance(self.dst_points, np.ndarray):
            _check_collinear(
                self.dst_points,
                "dst_points",
                "the map would collapse the image onto a line and cannot be inverted for warping",
            )

    @staticmethod
    def _check_shear(shear: Any) -> tuple[float, float, float, float]:
        if shear is None:
            return (0.0, 0.0, 0.0, 0.0)
        if isinstance(shear, (list, tuple)) and len(shear) == 4:
            values = check_range(tuple(shear[:2]), "shear", symmetric=False) + check_range(
                tuple(shear[2:]), "shear", symmetric=False
            )
        else:
            values = check_range(shear, "shear") + (0.0, 0.0)
        if max(abs(v) for v in values) >= 90:
            raise ValueError(f"shear angles must lie in (-90, 90) degrees, got {shear!r}")
        return values

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        height, width = images.shape[-2:]
        applied = bernoulli((batch,), self.p, device, generator)
        if self.src_points is not None or self.point_jitter > 0:
            matrix = self._point_matrix(batch, height, width, device, generator)
            return {"matrix": torch.where(applied[:, None, None], matrix, matrices.identity(batch, device))}
        fraction = uniform((batch, 2), -1.0, 1.0, device, generator) * torch.tensor(
            self.translate or (0.0, 0.0), device=device
        )
        shift = torch.round(fraction * torch.tensor([width, height], dtype=torch.float32, device=device))
        scale = uniform((batch,), *(self.scale or (1.0, 1.0)), device, generator)
        shear = torch.stack(
            [
                uniform((batch,), *self.shear[:2], device, generator),
                uniform((batch,), *self.shear[2:], device, generator),
            ],
            -1,
        )
        angle = uniform((batch,), *self.degrees, device, generator)
        keep = applied.to(torch.float32)
        return {
            "angle": angle * keep,
            "translate": shift * keep[:, None],
            "scale": 1 + (scale - 1) * keep,
            "shear": shear * keep[:, None],
        }

    def _point_matrix(self, batch, height, width, device, generator):
        if self.src_points is None:
            size = torch.tensor([width, height], dtype=torch.float32, device=device)
            src = (torch.tensor(ANCHORS, device=device) * size).expand(batch, 3, 2)
            dst = src + uniform((batch, 3, 2), -self.point_jitter, self.point_jitter, device, generator) * size
            return matrices.affine_from_points(src, dst)
        src, dst = (torch.as_tensor(p, dtype=torch.float32, device=device) for p in (self.src_points, self.dst_points))
        for name, points in (("src_points", src), ("dst_points", dst)):
            if points.ndim == 3 and points.shape[0] != batch:
                raise ValueError(f"{name} holds {points.shape[0]} point triples but the batch has {batch} images")
        src, dst = src.expand(batch, 3, 2), dst.expand(batch, 3, 2)
        return matrices.affine_from_points(src, dst)

    def matrix_from_params(self, params, height, width):
        return affine_matrix(params, height, width)

    def sample_params_image(self, img, rng):
        height, width = img.shape[:2]
        applied = rng.random() < self.p
        if self.src_points is not None or self.point_jitter > 0:
            size = np.array([width, height], dtype=np.float64)
            src = self.src_points if self.src_points is not None else np.array(ANCHORS) * size
            dst = (
                self.dst_points
                if self.dst_points is not None
                else src + rng.uniform(-self.point_jitter, self.point_jitter, (3, 2)) * size
            )
            matrix = cv2.getAffineTransform(src.astype(np.float32), dst.astype(np.float32)) if applied else np.eye(2, 3)
            return {"matrix": matrix}
        shift = np.round(rng.uniform(-1, 1, 2) * np.array(self.translate or (0.0, 0.0)) * np.array([width, height]))
        scale = rng.uniform(*(self.scale or (1.0, 1.0)))
        shear = np.array([rng.uniform(*self.shear[:2]), rng.uniform(*self.shear[2:])])
        angle = rng.uniform(*self.degrees)
        return {
            "angle": angle * applied,
            "translate": shift * applied,
            "scale": 1 + (scale - 1) * applied,
            "shear": shear * applied,
        }

    def matrix_from_params_image(self, params, height, width):
        if "matrix" in params:
            return np.asarray(params["matrix"], dtype=np.float64)[:2]
        return affine_matrix_image(params, height, width)


AffineImage = image_backend(Affine)

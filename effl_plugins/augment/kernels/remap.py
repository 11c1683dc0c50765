"""In-place lookup tables and nearest-neighbour warps on chosen rows of a uint8 batch: the last step of the LUT
chain of :mod:`.lut_chain`, ``out = warp(table(pixels))`` for each sample.

- Tables: each ``(sample, channel)`` plane is translated in place by StringZilla's byte translation.
- Warps: a 1-D ``index_select`` with int32 indices into the flattened images, by chunks of a few samples. The
  nearest warp is :func:`.affine.warp_affine_torch`'s arithmetic; instead of masking the pixels that fall outside,
  the source is framed by a one-pixel border of the fill colour and the coordinates are clamped onto that frame,
  so the warp is a single lookup with identical results.

Shape:
    pixels ``[B, C, H, W]`` uint8 contiguous on the CPU (changed in place), luts ``[B, C, 256]``
    uint8, index ``[k]`` int64.
"""

from __future__ import annotations

import functools

import numpy as np
import stringzilla
import torch

from .affine import fill_tensor, invert_affine, source_coordinates, warp_affine_torch
from .rows import select_rows, write_rows_

__all__ = [
    "apply_luts_rows",
    "warp_rows_",
    "warp_rows_framed_",
    "framed_source_index",
    "framed_index_applies",
    "chunks",
]

#: pixels (all channels) per chunk, about 7 samples of 3x224x224: temporaries of 4 MB, which stay in cache
CHUNK_PIXELS = 1 << 20
#: the largest inverse-matrix entry for which the framed index is computed (beyond it, or for
#: non-finite matrices, the general warp runs)
_MAX_INVERSE = float(1 << 20)


def chunks(index: torch.Tensor, pixels_per_sample: int):
    """Split ``index`` into pieces of about :data:`CHUNK_PIXELS` pixels."""
    size = max(1, CHUNK_PIXELS // max(1, pixels_per_sample))
    return index.split(size) if index.numel() else ()


@functools.lru_cache(maxsize=256)
def _offsets(rows: int, stride: int, device) -> torch.Tensor:
    """``[rows, 1]`` int32 ``row * stride`` (made once per shape; read, never written)."""
    return (torch.arange(rows, dtype=torch.int32, device=device) * stride).view(rows, 1)


@functools.lru_cache(maxsize=256)
def _fill_of(fill, dtype: torch.dtype, channels: int, device) -> torch.Tensor:
    """:func:`.affine.fill_tensor` of a number or tuple fill (made once per fill, dtype and channel count)."""
    return fill_tensor(fill, torch.empty((1, channels, 1, 1), dtype=dtype, device=device))


def _framed_template(count: int, channels: int, height: int, width: int, dtype, device, fill) -> torch.Tensor:
    """``[count, C, H + 2, W + 2]`` filled with ``fill``, for the caller to clone: a slice of one template per shape
    and fill (as many samples as a chunk holds, about 1 MB) for a number or tuple fill."""
    if isinstance(fill, (int, float, tuple)):
        rows = max(1, CHUNK_PIXELS // max(1, channels * height * width))
        if count <= rows:
            return _framed_template_cached(rows, channels, height, width, dtype, device, fill)[:count]
    return _framed_template_cached.__wrapped__(count, channels, height, width, dtype, device, fill)


@functools.lru_cache(maxsize=8)
def _framed_template_cached(count: int, channels: int, height: int, width: int, dtype, device, fill) -> torch.Tensor:
    framed = torch.empty(count, channels, height + 2, width + 2, dtype=dtype, device=device)
    return framed.copy_(fill_tensor(fill, framed).expand_as(framed))


def _fill(fill, pixels: torch.Tensor) -> torch.Tensor:
    if isinstance(fill, (int, float, tuple)):
        return _fill_of(fill, pixels.dtype, pixels.shape[1], pixels.device)
    return fill_tensor(fill, pixels)


def apply_luts_rows(pixels: torch.Tensor, luts: torch.Tensor, index: torch.Tensor) -> None:
    """``pixels[i, c] = luts[i, c][pixels[i, c]]`` in place, for the samples ``index``."""
    if not pixels.is_contiguous() or pixels.device.type != "cpu" or pixels.dtype != torch.uint8:
        raise ValueError(
            f"pixels must be a contiguous uint8 CPU tensor, got {pixels.dtype} on {pixels.device}"
            f"{'' if pixels.is_contiguous() else ' (not contiguous)'}"
        )
    channels, plane = pixels.shape[1], pixels.shape[2] * pixels.shape[3]
    if index.numel() == 0 or plane == 0:
        return
    flat = memoryview(pixels.numpy().reshape(-1))
    tables = memoryview(np.ascontiguousarray(luts.numpy(), dtype=np.uint8).reshape(-1))
    for sample in index.tolist():
        for channel in range(sample * channels, (sample + 1) * channels):
            stringzilla.translate(
                flat[channel * plane : (channel + 1) * plane], tables[channel * 256 : (channel + 1) * 256], inplace=True
            )


def framed_source_index(inverse: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Where each output pixel of the nearest warp reads in the source framed by a one-pixel border.

    Shape:
        inverse ``[k, 2, 3]`` (output -> input maps) -> ``[k, H * W]`` int32 indices into ``(H + 2) x (W + 2)`` planes.
    """
    src_x, src_y = source_coordinates(inverse, height, width)
    src_x = src_x.add_(0.5).floor_().clamp_(-1, width)
    src_y = src_y.add_(0.5).floor_().clamp_(-1, height)
    flat = src_y.mul_(width + 2).add_(src_x).add_(width + 3)  # ((y + 1) * (W + 2) + x + 1): integers below 2**24
    return flat.view(len(inverse), -1).to(torch.int32)


def framed_index_applies(inverse: torch.Tensor, height: int, width: int) -> bool:
    """Whether :func:`framed_source_index` serves these inverse matrices (finite, entries at most ``2**20``)."""
    return (
        (height + 2) * (width + 2) < 1 << 24
        and bool(inverse.isfinite().all())
        and float(inverse.abs().max()) <= _MAX_INVERSE
    )


def warp_rows_(pixels: torch.Tensor, matrices: torch.Tensor, index: torch.Tensor, interpolation: str, fill) -> None:
    """``pixels[i] = warp(pixels[i], matrices[i])`` in place for the samples ``index`` (forward matrices ``[B, 3,
    3]``)."""
    batch, channels, height, width = pixels.shape
    framed = None
    for part in chunks(index, channels * height * width):
        count = len(part)
        rows = select_rows(pixels, part)
        inverse = invert_affine(matrices.index_select(0, part))
        if interpolation != "nearest" or not framed_index_applies(inverse, height, width):
            write_rows_(pixels, part, warp_affine_torch(rows, matrices.index_select(0, part), interpolation, fill))
            continue
        if framed is None:  # reused by every chunk: only the inside changes
            framed = torch.empty(count, channels, height + 2, width + 2, dtype=pixels.dtype, device=pixels.device)
            framed.copy_(_fill(fill, pixels).expand_as(framed))
        _write_framed_(pixels, part, framed, rows, framed_source_index(inverse, height, width))


def warp_rows_framed_(pixels: torch.Tensor, where: torch.Tensor, index: torch.Tensor, fill) -> None:
    """The nearest warp of :func:`warp_rows_` by indices already made: ``pixels[index[j]]`` becomes its framed source
    read at ``where[j]`` (:func:`framed_source_index` of its inverse matrix), in place.

    Shape:
        pixels ``[B, C, H, W]`` uint8 contiguous (CPU), where ``[k, H * W]`` int32, index ``[k]`` int64.
    """
    batch, channels, height, width = pixels.shape
    framed, start = None, 0
    for part in chunks(index, channels * height * width):
        count = len(part)
        if framed is None:  # reused by every chunk: only the inside changes
            framed = _framed_template(count, channels, height, width, pixels.dtype, pixels.device, fill).clone()
        _write_framed_(pixels, part, framed, select_rows(pixels, part), where[start : start + count])
        start += count


def _write_framed_(pixels: torch.Tensor, part: torch.Tensor, framed: torch.Tensor, rows: torch.Tensor, where) -> None:
    """``pixels[part]`` = ``rows`` framed (``framed``: its border filled) and read at ``where`` ``[k, H * W]``."""
    count, channels, height, width = rows.shape
    source = framed[:count]
    source[..., 1:-1, 1:-1] = rows
    offsets = _offsets(count * channels, (height + 2) * (width + 2), pixels.device)
    where = where.view(count, 1, -1) + offsets.view(count, channels, 1)
    write_rows_(pixels, part, source.view(-1).index_select(0, where.view(-1)).view(count, channels, height, width))

"""In-place lookup tables and nearest-neighbour warps on chosen rows of a uint8 batch.

The last step of the LUT chain of :mod:`.lut_chain`: each sample's table is applied and, where the
sample has geometry, its pixels are warped, ``out = warp(table(pixels))``. Both are 1-D
``index_select`` calls with int32 indices into flattened tables and images (on one CPU thread,
2.3 times as fast as ``gather``, which wants int64 indices). Work goes by chunks of a few samples
so that every temporary stays a few MB: large fresh allocations cost the CPU a page fault per
4 KiB, more than the arithmetic on them.

The nearest warp is :func:`.warp.warp_affine`'s arithmetic (same float32 coordinates, same
``floor(c + 0.5)``). Instead of masking the pixels that fall outside, the source is framed by a
one-pixel border of the fill colour and the coordinates are clamped onto that frame, so the warp
is a single lookup; the results are identical.

Shape:
    pixels ``[B, C, H, W]`` uint8 (changed in place), luts ``[B, C, 256]`` uint8, index ``[k]`` int64.
"""

from __future__ import annotations

import torch

from .rows import select_rows, write_rows_
from .warp import fill_tensor, invert_affine, warp_affine

__all__ = ["apply_luts_rows", "lut_remap_rows", "framed_source_index", "chunks"]

#: pixels (all channels) per chunk: int32 temporaries of 16 MB, below glibc's 32 MB mmap threshold, and few
#: enough chunks that a busy second thread does not stall many parallel regions
CHUNK_PIXELS = 1 << 22
#: the largest inverse-matrix entry for which the framed index is computed (beyond it, or for
#: non-finite matrices, the general warp runs)
_MAX_INVERSE = float(1 << 20)


def chunks(index: torch.Tensor, pixels_per_sample: int):
    """Split ``index`` into pieces of about :data:`CHUNK_PIXELS` pixels."""
    size = max(1, CHUNK_PIXELS // max(1, pixels_per_sample))
    return index.split(size) if index.numel() else ()


def _offsets(rows: int, stride: int, device) -> torch.Tensor:
    return (torch.arange(rows, dtype=torch.int32, device=device) * stride).view(rows, 1)


def lookup(luts: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``luts[b, c][values[b, c]]`` for uint8 ``values`` ``[k, C, n]`` and tables ``[k, C, 256]`` -> ``[k, C, n]``."""
    count, channels, size = values.shape
    index = values.to(torch.int32).view(count * channels, size).add_(_offsets(count * channels, 256, values.device))
    return luts.reshape(-1).index_select(0, index.view(-1)).view(count, channels, size)


def apply_luts_rows(pixels: torch.Tensor, luts: torch.Tensor, index: torch.Tensor) -> None:
    """``pixels[i] = luts[i][pixels[i]]`` per channel, for the samples ``index``."""
    batch, channels, height, width = pixels.shape
    for part in chunks(index, channels * height * width):
        rows = select_rows(pixels, part).view(len(part), channels, -1)
        write_rows_(pixels, part, lookup(select_rows(luts, part), rows).view(-1, channels, height, width))


def framed_source_index(inverse: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Where each output pixel of the nearest warp reads in the source framed by a one-pixel border.

    Shape:
        inverse ``[k, 2, 3]`` (output -> input maps) -> ``[k, H * W]`` int32 indices into ``(H + 2) x (W + 2)`` planes.
    """
    inverse = inverse.unsqueeze(-1).unsqueeze(-1)  # [k, 2, 3, 1, 1], as in warp_affine
    xs = torch.arange(width, dtype=torch.float32, device=inverse.device).view(1, 1, width)
    ys = torch.arange(height, dtype=torch.float32, device=inverse.device).view(1, height, 1)
    src_x = (inverse[:, 0, 0] * xs + inverse[:, 0, 1] * ys).add_(inverse[:, 0, 2]).add_(0.5).floor_().clamp_(-1, width)
    src_y = (inverse[:, 1, 0] * xs + inverse[:, 1, 1] * ys).add_(inverse[:, 1, 2]).add_(0.5).floor_().clamp_(-1, height)
    flat = src_y.mul_(width + 2).add_(src_x).add_(width + 3)  # ((y + 1) * (W + 2) + x + 1): integers below 2**24
    return flat.view(len(inverse), -1).to(torch.int32)


def _framed_index_applies(inverse: torch.Tensor, height: int, width: int) -> bool:
    return (height + 2) * (width + 2) < 1 << 24 and bool(inverse.isfinite().all()) and float(inverse.abs().max()) <= _MAX_INVERSE


def lut_remap_rows(pixels: torch.Tensor, luts: torch.Tensor, pending: torch.Tensor, matrices: torch.Tensor,
                   index: torch.Tensor, interpolation: str, fill) -> None:
    """``pixels[i] = warp(luts[i][pixels[i]], matrices[i])`` for the samples ``index`` (tables only where ``pending``)."""
    batch, channels, height, width = pixels.shape
    framed = None
    for part in chunks(index, channels * height * width):
        count = len(part)
        rows = select_rows(pixels, part).view(count, channels, -1)
        if bool(pending.index_select(0, part).any()):
            rows = lookup(select_rows(luts, part), rows)
        rows = rows.view(count, channels, height, width)
        inverse = invert_affine(matrices.index_select(0, part))
        if interpolation != "nearest" or not _framed_index_applies(inverse, height, width):
            write_rows_(pixels, part, warp_affine(rows, matrices.index_select(0, part), interpolation, fill))
            continue
        if framed is None:  # reused by every chunk: only the inside changes
            framed = torch.empty(count, channels, height + 2, width + 2, dtype=pixels.dtype, device=pixels.device)
            framed.copy_(fill_tensor(fill, pixels).expand_as(framed))
        source = framed[:count]
        source[..., 1:-1, 1:-1] = rows
        area = (height + 2) * (width + 2)
        where = framed_source_index(inverse, height, width).view(count, 1, -1)
        where = where + _offsets(count * channels, area, pixels.device).view(count, channels, 1)
        write_rows_(pixels, part, source.view(-1).index_select(0, where.view(-1)).view(count, channels, height, width))

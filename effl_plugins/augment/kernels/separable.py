"""The torch reference warp for separable source coordinates, on the CPU, by selecting rows and columns.

When output row ``i`` reads source row position ``src_y[b, i]`` and output column ``j`` reads source
column position ``src_x[b, j]`` (an axis-aligned crop-and-resize), the neighbours of every output
pixel are whole rows and whole columns of the input. :func:`separable_resample` selects the columns
(as rows of the transposed planes: byte copies), blends each pair of columns, selects the rows of that
and blends each pair of rows: the float32 operations of :func:`.affine.bilinear_gather`, in its order
(``top = a * (1 - wx) + b * wx``, the same for ``bottom``, then ``top * (1 - wy) + bottom * wy``), so
the result is the reference's bit for bit.

Shape:
    images ``[B, C, H, W]`` uint8 or float32 on the CPU, src_x ``[B, w]``, src_y ``[B, h]`` float32
    -> ``[B, C, h, w]``.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["separable_resample"]

#: the reference computes flat pixel indices ``y * W + x`` in float32: exact below 2**24 pixels a plane
_MAX_PLANE = 1 << 24
#: bytes of float32 columns blended at once: fresh allocations beyond a few MB cost a page fault per 4 KiB
PIECE_BYTES = 1 << 21


_SCRATCH = threading.local()


def _scratch(name: str, numel: int) -> torch.Tensor:
    """A float32 work buffer of ``numel`` elements, kept (per thread) from call to call."""
    buffer = getattr(_SCRATCH, name, None)
    if buffer is None or buffer.numel() < numel:
        buffer = torch.empty(numel)
        setattr(_SCRATCH, name, buffer)
    return buffer[:numel]


def _transposed(matrix: torch.Tensor) -> torch.Tensor:
    """A 2-D tensor transposed into a contiguous one by OpenCV (rather than a strided torch copy of uint8)."""
    matrix = matrix.contiguous()
    out = torch.empty((matrix.shape[1], matrix.shape[0]), dtype=matrix.dtype)
    cv2.transpose(matrix.numpy(), out.numpy())
    return out


def _select_columns(band: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Columns of each sample of ``band [p, C, R, W]``, laid out ``[C, R, p, k]``: the rows ``index`` (``[p * k]``,
    column ``x`` of sample ``b`` is row ``x * p + b``) of the transposed band ``[W * p, C * R]``, transposed back."""
    count, channels, rows, width = band.shape
    columns = _transposed(band.reshape(-1, width)).view(width * count, -1)
    return _transposed(columns.index_select(0, index)).view(channels, rows, count, -1)


def _plane_rows(lines: np.ndarray, channels: int, rows: np.ndarray, count: np.ndarray, position: np.ndarray):
    """Row numbers in ``[C, R, p, k]`` planes (as :func:`_select_columns` lays them out) of line ``lines[b, ..., i]``
    of every channel of sample ``b``, the sample at ``position[b]`` of the ``count[b]`` in its piece whose planes
    have ``rows[b]`` rows: plane row ``(c, r, b)`` is ``(c * R + r) * p + b``.

    Shape:
        lines ``[B, ..., i]``, rows, count, position ``[B]``, int64 -> ``[B, ..., C, i]``.
    """
    shape = (-1,) + (1,) * lines.ndim
    channel = np.arange(channels, dtype=np.int64).reshape(channels, 1) * rows.reshape(shape)
    return (np.expand_dims(lines, -2) + channel) * count.reshape(shape) + position.reshape(shape)


def _inside(index: np.ndarray, size: int) -> bool:
    return bool(((index >= 0) & (index <= size - 1)).all())


def _float32_array(values: torch.Tensor | np.ndarray) -> np.ndarray:
    return values.numpy() if isinstance(values, torch.Tensor) else values


def separable_resample(
    images: torch.Tensor,
    src_x: torch.Tensor | np.ndarray,
    src_y: torch.Tensor | np.ndarray,
    interpolation: str,
    fill: float = 0.0,
) -> torch.Tensor | None:
    """:func:`.affine.gather_pixels` (``"nearest"``, integer-valued coordinates) or :func:`.affine.bilinear_gather`
    (``"bilinear"``) of ``images`` at ``(src_x[b, j], src_y[b, i])``, the same values; ``None`` where this path
    does not apply: not a CPU uint8/float32 batch, or a nearest pixel or the top-left bilinear neighbour outside
    the image. The indices and weights are made by NumPy (the same float32 operations), the pixels moved by torch.

    Shape:
        images ``[B, C, H, W]``, src_x ``[B, w]``, src_y ``[B, h]`` float32 (CPU tensors or arrays) -> ``[B, C, h, w]``.
    """
    batch, channels, height, width = images.shape
    if images.device.type != "cpu" or images.dtype not in (torch.uint8, torch.float32) or height * width > _MAX_PLANE:
        return None
    src_x, src_y = _float32_array(src_x), _float32_array(src_y)
    x0, y0 = np.floor(src_x), np.floor(src_y)
    if not (_inside(x0, width) and _inside(y0, height)):
        return None
    if interpolation == "nearest":  # one piece: the whole batch
        whole, position = np.full(batch, batch), np.arange(batch)
        columns = (x0.astype(np.int64) * batch + position.reshape(-1, 1)).reshape(-1)
        planes = _select_columns(images, torch.from_numpy(columns))
        index = _plane_rows(y0.astype(np.int64), channels, np.full(batch, height), whole, position)
        out_w = src_x.shape[1]
        return (
            planes.view(-1, out_w).index_select(0, torch.from_numpy(index.reshape(-1))).view(batch, channels, -1, out_w)
        )
    return _bilinear(images, src_x, src_y, x0, y0, fill)


def _bilinear(images, src_x, src_y, x0, y0, fill: float) -> torch.Tensor:
    """Column pairs blended, then row pairs, by pieces of samples; every index computed once for the batch and
    the float32 intermediates in buffers kept between calls (:func:`_scratch`)."""
    batch, channels, height, width = images.shape
    out_h, out_w = src_y.shape[1], src_x.shape[1]
    step = max(1, PIECE_BYTES // (4 * channels * height * 2 * out_w))
    pieces = [slice(start, min(start + step, batch)) for start in range(0, batch, step)]
    first, last = y0.min(1).astype(np.int64).tolist(), (y0.max(1).astype(np.int64) + 1).tolist()  # rows each reads
    right = (x0.max(1).astype(np.int64) + 1).tolist()
    bands = [(min(first[piece]), max(last[piece])) for piece in pieces]  # the rows each piece reads
    per_sample = [
        (low, high + 1 - low, piece.stop - piece.start, b)
        for piece, (low, high) in zip(pieces, bands)
        for b in range(piece.stop - piece.start)
    ]
    low, rows, count, position = np.array(per_sample, dtype=np.int64).T
    column_index = (np.concatenate([x0, x0 + 1], 1).astype(np.int64) * count[:, None] + position[:, None]).reshape(-1)
    line_pairs = np.stack([y0, y0 + 1], 1).astype(np.int64) - low[:, None, None]  # [B, 2, h]
    row_index = torch.from_numpy(_plane_rows(line_pairs, channels, rows, count, position).reshape(-1))  # [B, 2, C, h]
    column_index = torch.from_numpy(column_index)
    wx = src_x - x0  # [B, w], lines up with the pairs [C, R, p, w]
    wy = (src_y - y0).reshape(batch, 1, out_h, 1)
    keep_x, keep_y = torch.from_numpy(1 - wx), torch.from_numpy(1 - wy)
    wx, wy = torch.from_numpy(wx), torch.from_numpy(wy)
    if images.dtype == torch.uint8:
        fill = min(max(round(fill), 0), 255)  # as the reference's fill_tensor
    pairs_buffer = _scratch("pairs", channels * (height + 1) * min(step, batch) * 2 * out_w)
    rows_buffer = _scratch("rows", min(step, batch) * 2 * channels * out_h * out_w)
    out = torch.empty((batch, channels, out_h, out_w), dtype=images.dtype)
    for piece, (low, high) in zip(pieces, bands):
        size = piece.stop - piece.start
        band = images[piece, :, low : high + 1]
        # a row (column) at H (W) reads ``fill``, as in the reference (only ever with the weight 0)
        pad_x, pad_y = max(0, max(right[piece]) + 1 - width), max(0, high + 1 - height)
        if pad_x or pad_y:
            band = F.pad(band, (0, pad_x, 0, pad_y), value=fill)
        picked = _select_columns(band, column_index[piece.start * 2 * out_w : piece.stop * 2 * out_w])
        pairs = pairs_buffer[: picked.numel()].view(picked.shape).copy_(picked)  # [C, R, p, 2w]
        left, right_ = pairs[..., :out_w], pairs[..., out_w:]
        left.mul_(keep_x[piece]).add_(right_.mul_(wx[piece]))  # a * (1 - wx) + b * wx, in ``left``
        selected = rows_buffer[: size * 2 * channels * out_h * out_w].view(-1, out_w)
        lines = row_index[piece.start * 2 * channels * out_h : piece.stop * 2 * channels * out_h]
        torch.index_select(pairs.view(-1, 2 * out_w)[:, :out_w], 0, lines, out=selected)
        selected = selected.view(size, 2, channels, out_h, out_w)
        top, bottom = selected[:, 0], selected[:, 1]
        top.mul_(keep_y[piece]).add_(bottom.mul_(wy[piece]))  # top * (1 - wy) + bottom * wy, in ``top``
        if images.dtype == torch.uint8:
            # blends of 0..255 with weights in [0, 1] round to 0..255, so the reference's clamp changes nothing
            top = top.round_().to(torch.int32)
        out[piece] = top
    return out

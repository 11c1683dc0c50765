"""Lookup tables for uint8 point ops: one 256-entry table per sample and channel.

The image backend applies tables with :func:`apply_lut_image`, the batch backend with :func:`apply_lut` (the
fused kernel: Triton for CUDA uint8, a torch gather elsewhere).
"""

from __future__ import annotations

import cv2
import numpy as np
import stringzilla
import torch

from ..kernels.lut import apply_lut

__all__ = [
    "apply_lut",
    "apply_lut_image",
    "translate_bytes",
    "truncate_to_uint8",
    "image_channels",
    "lookup_pairs_image",
]

#: per-channel tables go through one ``cv2.LUT`` up to this many channels (OpenCV's limit) and pixels per channel
#: (beyond, the planes' byte translations cost less; measured: ``benchmarks/RESULTS.md``, small calls)
_LUT_CHANNELS = 128
_LUT_PIXELS = 1 << 13


def truncate_to_uint8(values: torch.Tensor) -> torch.Tensor:
    """Clip float values to [0, 255] and truncate to uint8 (torchvision's ``.to(torch.uint8)``)."""
    return values.clamp_(0, 255).to(torch.uint8)


def image_channels(img: np.ndarray) -> int:
    return 1 if img.ndim == 2 else img.shape[2]


def apply_lut_image(img: np.ndarray, luts: np.ndarray) -> np.ndarray:
    """Map every pixel through its channel's table (one table for all channels, or one per channel).

    A single table goes through StringZilla's byte translation (the table lookup as a SIMD shuffle);
    per-channel tables through one ``cv2.LUT`` with a ``C``-channel table on small images, and on larger ones (or
    beyond OpenCV's channel count) each plane of ``cv2.split`` translated in place and ``cv2.merge``-d.

    Shape:
        img ``H x W x C`` (or ``H x W``) uint8, luts ``[C, 256]`` or ``[256]`` uint8 -> ``img.shape`` uint8.
    """
    luts = np.asarray(luts, dtype=np.uint8).reshape(-1, 256)
    channels = image_channels(img)
    if channels == 1 or len(luts) == 1:
        return translate_bytes(img, luts[0])
    if len(luts) != channels:
        luts = np.broadcast_to(luts, (channels, 256))  # refuses a count that is neither 1 nor the channels'
    if channels <= _LUT_CHANNELS and img.shape[0] * img.shape[1] <= _LUT_PIXELS:
        return cv2.LUT(img, luts.T.reshape(256, 1, channels)).reshape(img.shape)
    if (luts == luts[0]).all():
        return translate_bytes(img, luts[0])
    planes = list(cv2.split(img))
    for plane, table in zip(planes, luts):
        _translate_in_place(plane, table)
    return cv2.merge(planes).reshape(img.shape)


def translate_bytes(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[img]`` for a uint8 array of any shape and a ``[256]`` uint8 table, into a new array."""
    out = np.array(img, dtype=np.uint8, order="C", copy=True)
    _translate_in_place(out, table)
    return out


def _translate_in_place(array: np.ndarray, table: np.ndarray) -> None:
    if array.size:
        stringzilla.translate(
            memoryview(array.reshape(-1)), memoryview(np.ascontiguousarray(table, dtype=np.uint8)), inplace=True
        )


def lookup_pairs_image(table: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``table[rows, cols]`` element-wise, for a uint8 point op of two uint8 arguments (a pixel and its
    grey level or smoothed value): the op's 65,536 results are computed once, then one nearest-neighbour
    ``cv2.remap`` of the table reads them (far cheaper than the op's float arithmetic per pixel).

    Shape:
        table ``[256, 256]`` uint8; rows, cols the same shape, integer values in 0..255 -> that shape, uint8.
    """
    shape = cols.shape
    cols = np.ascontiguousarray(cols, dtype=np.float32).reshape(shape[0], -1)
    rows = np.ascontiguousarray(rows, dtype=np.float32).reshape(cols.shape)
    if cols.shape[1] >= 1 << 15:  # beyond OpenCV's map width
        return table[rows.astype(np.intp), cols.astype(np.intp)].reshape(shape)
    return cv2.remap(table, cols, rows, cv2.INTER_NEAREST).reshape(shape)

"""The tables of equalize: per-channel histogram equalization with PIL's lookup table (PIL ``ImageOps.equalize``,
``torchvision.transforms.v2.functional.equalize``).

With ``n`` pixels, ``h`` the channel's histogram and ``c`` its cumulative sum, PIL's table is
``lut[0] = 0``, ``lut[k] = min(255, (c[k-1] + step // 2) // step)`` with
``step = (n - h[last non-empty bin]) // 255``; a channel with ``step = 0`` (nearly constant) is
left as it is.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

__all__ = [
    "equalize_luts",
    "luts_from_histograms",
    "channel_histograms",
    "channel_histograms_image",
]


def channel_histograms(images: torch.Tensor) -> torch.Tensor:
    """The 256-bin histogram of every channel of a uint8 batch: one ``bincount`` over values offset by
    256 per channel, in the narrowest integer type that holds the offsets (int16 for up to 127 channels).

    Shape:
        images ``[B, C, H, W]`` uint8 -> ``[B, C, 256]`` int64.
    """
    batch, channels = images.shape[:2]
    rows = batch * channels
    kind = (
        torch.int16
        if rows * 256 <= torch.iinfo(torch.int16).max + 1
        else torch.int32
        if rows * 256 <= 1 << 31
        else torch.int64
    )
    offsets = torch.arange(0, rows * 256, 256, dtype=kind, device=images.device).view(rows, 1)
    values = images.reshape(rows, images.shape[-2] * images.shape[-1]).to(kind).add_(offsets)
    if images.device.type == "cpu":
        return torch.bincount(values.view(-1), minlength=rows * 256).view(batch, channels, 256)
    # bincount on an accelerator reads the largest value back to the host
    flat = values.view(-1).long()
    counts = torch.zeros(rows * 256, dtype=torch.int64, device=images.device)
    return counts.scatter_add_(0, flat, torch.ones_like(flat)).view(batch, channels, 256)


#: up to this many channels in all (CPU), :func:`equalize_luts` makes the tables by :func:`luts_from_histograms` (a few
#: NumPy passes), above it by tensor ops (``benchmarks/RESULTS.md``, small calls)
_NUMPY_TABLE_ROWS = 96


def equalize_luts(images: torch.Tensor) -> torch.Tensor:
    """PIL's equalization tables of a uint8 batch.

    Shape:
        images ``[B, C, H, W]`` uint8 -> ``[B, C, 256]`` uint8.
    """
    batch, channels = images.shape[:2]
    hist = channel_histograms(images).view(batch * channels, 256)
    if images.device.type == "cpu" and batch * channels <= _NUMPY_TABLE_ROWS:
        return torch.from_numpy(luts_from_histograms(hist.numpy())).view(batch, channels, 256)
    cumulative = hist.cumsum(1)
    last_bin = cumulative.argmax(1, keepdim=True)  # first index reaching the total = last non-empty bin
    step = (images.shape[-2] * images.shape[-1] - hist.gather(1, last_bin)) // 255
    lut = (cumulative[:, :-1] + step // 2) // step.clamp(min=1)
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut.clamp_(0, 255)], dim=1)
    ramp = torch.arange(256, device=images.device).expand_as(lut)
    return torch.where(step == 0, ramp, lut).to(torch.uint8).view(batch, channels, 256)


def luts_from_histograms(hists: np.ndarray) -> np.ndarray:
    """PIL's equalization tables from 256-bin histograms, all channels at once, in integers.

    ``before[k] = c[k] - h[k]`` is the count below value ``k`` (``c[k-1]``, and 0 at ``k = 0``, where
    ``(0 + step // 2) // step`` is 0 as PIL's ``lut[0]``); ``n - h[last non-empty bin]`` is the largest ``before`` of
    a non-empty bin.

    Shape:
        hists ``[C, 256]`` integer -> ``[C, 256]`` uint8.
    """
    hists = np.asarray(hists, dtype=np.int64)
    before = hists.cumsum(1)
    before -= hists
    step = before.max(1, where=hists > 0, initial=0, keepdims=True) // 255
    luts = before + step // 2
    luts //= np.maximum(step, 1)
    np.minimum(luts, 255, out=luts)
    if not step.all():  # a nearly constant channel is left as it is
        luts[step[:, 0] == 0] = _RAMP
    return luts.astype(np.uint8)


#: the identity table
_RAMP = np.arange(256)


def channel_histograms_image(img: np.ndarray) -> np.ndarray:
    """256-bin int64 histograms ``[C, 256]`` of each channel of one uint8 image (``cv2.calcHist`` per channel into one
    float32 array, exact below 2**24 pixels; ``np.bincount`` above)."""
    planes = img.reshape(img.shape[0], img.shape[1], -1)
    channels = planes.shape[2]
    if planes.shape[0] * planes.shape[1] >= 1 << 24:
        return np.stack([np.bincount(planes[..., c].ravel(), minlength=256) for c in range(channels)]).astype(np.int64)
    hists = np.empty((channels, 256), dtype=np.float32)
    for c in range(channels):
        hists[c] = cv2.calcHist([planes], [c], None, [256], [0, 256]).ravel()
    return hists.astype(np.int64)

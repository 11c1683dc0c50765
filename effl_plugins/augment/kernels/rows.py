"""Read and write chosen samples (rows) of a batch as ``[B, bytes]`` rows of the widest integer type that divides
a row: ``index_select`` and ``index_copy_`` then move 8 bytes per element. The bytes are copied, never converted."""

from __future__ import annotations

import torch

__all__ = ["select_rows", "write_rows_"]

_WORDS = ((torch.int64, 8), (torch.int32, 4), (torch.int16, 2))


def _as_words(tensor: torch.Tensor) -> torch.Tensor:
    """Contiguous ``[B, ...]`` -> its bytes as ``[B, n]`` words of the widest integer type that tiles one row."""
    rows = tensor.view(tensor.shape[0], -1)
    rows = rows if rows.dtype == torch.uint8 else rows.view(torch.uint8)
    width = rows.shape[1]
    for word, size in _WORDS:
        if width and width % size == 0:
            return rows.view(word)
    return rows


def select_rows(tensor: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``tensor.index_select(0, index)`` for a contiguous tensor (a fresh contiguous tensor).

    Shape:
        ``[B, ...]``, index ``[k]`` int64 -> ``[k, ...]``.
    """
    if not tensor.is_contiguous():
        return tensor.index_select(0, index)
    words = _as_words(tensor).index_select(0, index).view(torch.uint8)
    return (words if tensor.dtype == torch.uint8 else words.view(tensor.dtype)).view(len(index), *tensor.shape[1:])


def write_rows_(tensor: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``tensor.index_copy_(0, index, rows)`` in place; ``tensor`` must be contiguous.

    Shape:
        tensor ``[B, ...]``, index ``[k]`` int64, rows ``[k, ...]`` -> tensor.
    """
    rows = rows.to(tensor.dtype).contiguous()
    _as_words(tensor).index_copy_(0, index, _as_words(rows))
    return tensor

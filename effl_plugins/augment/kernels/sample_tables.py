"""Map each sample of a uint8 CPU batch through its own 256-entry table, in one pass of StringZilla's byte
translation (a SIMD shuffle through the table)."""

from __future__ import annotations

import math

import numpy as np
import stringzilla
import torch

__all__ = ["translate_samples"]


def translate_samples(images: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """``out[i] = tables[i][images[i]]``: each sample's bytes looked up in its own table (a new tensor).

    Shape:
        images ``[B, ...]`` contiguous uint8 on the CPU, tables ``[B, 256]`` uint8 -> ``[B, ...]`` uint8.
    """
    if not images.is_contiguous() or images.device.type != "cpu" or images.dtype != torch.uint8:
        raise ValueError(f"images must be a contiguous uint8 CPU tensor, got {images.dtype} on {images.device}")
    out = torch.empty_like(images)
    size = math.prod(images.shape[1:])
    if size == 0 or len(images) == 0:
        return out
    source, target = memoryview(images.numpy()).cast("B"), memoryview(out.numpy()).cast("B")
    lookup = memoryview(np.ascontiguousarray(tables.numpy(), dtype=np.uint8)).cast("B")
    translate = stringzilla.translate
    # the source by its start and end, the output and the table as slices: the fewest Python objects per sample
    for start, table in zip(range(0, len(source), size), range(0, len(lookup), 256)):
        end = start + size
        translate(source, lookup[table : table + 256], False, start, end, out=target[start:end])
    return out

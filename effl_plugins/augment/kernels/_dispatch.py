"""Which implementation a fused call runs: Triton for CUDA uint8 tensors when Triton imports."""

from __future__ import annotations

import torch

from ..._triton import triton_available

__all__ = ["BACKENDS", "triton_available", "use_triton"]

BACKENDS = ("auto", "triton", "torch")


def use_triton(images: torch.Tensor, backend: str) -> bool:
    """``True`` to launch the Triton kernel. ``"triton"`` forces it (CPU tensors need ``TRITON_INTERPRET=1``)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return False
    if backend == "triton":
        if not triton_available():
            raise RuntimeError("backend='triton' asked for, but triton does not import here")
        return True
    return images.is_cuda and images.dtype == torch.uint8 and triton_available()

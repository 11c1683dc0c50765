"""Whether a fused kernel runs in Triton: the one availability check and the one backend rule behind every fused
kernel (augment's LUT and warp, the KD loss)."""

from __future__ import annotations

import functools

import torch

__all__ = ["BACKENDS", "triton_available", "use_triton"]

#: the ``backend=`` values of every fused kernel
BACKENDS = ("auto", "triton", "torch")


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """``True`` when ``triton`` and ``triton.language`` import (``False`` without them or with a broken driver)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # ImportError, or a broken driver stack
        return False
    return True


def use_triton(images: torch.Tensor, backend: str) -> bool:
    """``True`` to launch the Triton kernel: ``"auto"`` for CUDA uint8 tensors when Triton imports, ``"triton"``
    always (CPU tensors need ``TRITON_INTERPRET=1``; ``RuntimeError`` without Triton), ``"torch"`` never."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return False
    if backend == "triton":
        if not triton_available():
            raise RuntimeError("backend='triton' asked for, but triton does not import here")
        return True
    return images.is_cuda and images.dtype == torch.uint8 and triton_available()

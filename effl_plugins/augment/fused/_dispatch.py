"""Which implementation a fused call runs: Triton for CUDA uint8 tensors when Triton imports."""

from __future__ import annotations

import functools

import torch

BACKENDS = ("auto", "triton", "torch")


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except Exception:  # ImportError, or a broken driver stack
        return False
    return True


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

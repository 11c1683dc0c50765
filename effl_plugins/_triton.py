"""Whether Triton imports here: the one check behind every fused kernel (augment's LUT and warp, the KD loss)."""

from __future__ import annotations

import functools

__all__ = ["triton_available"]


@functools.lru_cache(maxsize=1)
def triton_available() -> bool:
    """``True`` when ``triton`` and ``triton.language`` import (``False`` without them or with a broken driver)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # ImportError, or a broken driver stack
        return False
    return True

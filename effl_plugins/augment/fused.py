"""Fused uint8 kernels for batched augmentation pipelines (Triton on CUDA, torch elsewhere).

- :func:`apply_lut`: a whole per-sample chain of point ops as ONE gather through a ``[B, C, 256]``
  table (build it with :func:`point_op_lut` and :func:`compose_luts`);
- :func:`warp_affine_fused`: every geometric op of a sample as ONE warp through its composed
  forward matrix (same convention as :func:`effl_plugins.augment.functional.warp.warp_affine`).
"""

from .kernels.lut import apply_lut, compose_luts, identity_luts, point_op_lut
from .kernels.warp import warp_affine_fused

__all__ = ["apply_lut", "compose_luts", "identity_luts", "point_op_lut", "warp_affine_fused"]

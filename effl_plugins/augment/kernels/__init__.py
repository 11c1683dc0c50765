"""The fast paths behind :mod:`effl_plugins.augment.functional`.

- Triton kernels for CUDA: a per-sample LUT (:mod:`.lut`) and one affine warp per sample (:mod:`.warp`),
  chosen by :func:`effl_plugins._triton.use_triton`; their public face is :mod:`effl_plugins.augment.fused`;
- the torch reference warp they equal and fall back to (:mod:`.affine`);
- the CPU paths that work in place on chosen samples of a uint8 batch (:mod:`.remap`, :mod:`.rows`).
"""

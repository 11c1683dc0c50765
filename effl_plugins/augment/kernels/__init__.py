"""The fast paths behind :mod:`effl_plugins.augment.functional`: Triton kernels for CUDA (a per-sample LUT and one
affine warp per sample, :mod:`.lut`, :mod:`.warp`, their dispatch in :mod:`._dispatch`) and the CPU paths that work
in place on chosen samples of a uint8 batch (:mod:`.remap`, :mod:`.rows`). The public face of the fused kernels is
:mod:`effl_plugins.augment.fused`."""

"""The fast paths behind :mod:`effl_plugins.augment.functional` and the ops: Triton kernels for CUDA (:mod:`.lut`,
:mod:`.warp`, :mod:`.rand_augment`; chosen by :func:`effl_plugins._triton.use_triton`), the torch reference warp
they equal (:mod:`.affine`), and the CPU paths (:mod:`.remap`, :mod:`.rows`, :mod:`.sample_tables`,
:mod:`.separable`)."""

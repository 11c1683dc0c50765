"""The fast paths behind :mod:`effl_plugins.augment.functional` and the ops.

- Triton kernels for CUDA: a per-sample LUT (:mod:`.lut`), one affine warp per sample (:mod:`.warp`), and batch
  RandAugment / TrivialAugment in two launches whatever N is (:mod:`.rand_augment`), chosen by
  :func:`effl_plugins._triton.use_triton`; the public face of the first two is :mod:`effl_plugins.augment.fused`;
- the torch reference warp they equal and fall back to (:mod:`.affine`);
- the CPU paths: in place on chosen samples of a uint8 batch (:mod:`.remap`, :mod:`.rows`), a table per sample
  applied in one byte translation (:mod:`.sample_tables`), and the separable crop-and-resize of
  random_resized_crop (:mod:`.separable`).
"""

"""The functions behind the ops, one module per concept: colour (:mod:`.enhance` blends and luma,
:mod:`.histogram` equalization tables, :mod:`.lut` table application), geometry (:mod:`.matrices`, the
torch and NumPy forms side by side, and :mod:`.warp`, the one affine warp), and :mod:`.mixing` (λ draws
and soft targets). The fast paths behind them are in :mod:`effl_plugins.augment.kernels`."""

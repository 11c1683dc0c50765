"""Automatic augmentation policies: RandAugment and TrivialAugment, the op space and magnitude scale they draw
from, and the two fast paths that run a drawn chain (the CPU LUT chain, the accelerator device path)."""

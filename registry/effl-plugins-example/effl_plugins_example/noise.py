"""Additive Gaussian noise with a per-sample standard deviation (batch backend)."""

from __future__ import annotations

import torch

from effl_plugins.augment import BatchAugmentation
from effl_plugins.augment.base import uniform


class GaussianNoise(BatchAugmentation):
    """Add N(0, sigma^2) noise, sigma ~ U(0, max_sigma) per sample, then clip to the valid range.

    Shape: images ``[B, C, H, W]`` uint8 or float -> same. params: ``sigma`` ``[B]``, ``seed`` ``[B]``.
    """

    def __init__(self, max_sigma: float = 0.1):
        super().__init__()
        if not 0 <= max_sigma <= 1:
            raise ValueError(f"max_sigma must be in [0, 1] (fraction of the value range), got {max_sigma!r}")
        self.max_sigma = float(max_sigma)

    def sample_params(self, images, generator=None):
        batch = images.shape[0]
        sigma = uniform((batch,), 0.0, self.max_sigma, images.device, generator)
        seed = torch.randint(0, 2**31 - 1, (batch,), generator=generator, device=generator.device if generator else images.device)
        return {"sigma": sigma, "seed": seed.to(images.device)}

    def apply(self, images, targets, params):
        # each sample's noise comes from its own seed, so a sample alone and in a batch agree
        noise = torch.stack([
            torch.randn(images.shape[1:], generator=torch.Generator().manual_seed(int(s))) for s in params["seed"].cpu()
        ]).to(images.device)
        scale = 255.0 if images.dtype == torch.uint8 else 1.0
        noisy = images.float() + noise * params["sigma"][:, None, None, None] * scale
        if images.dtype == torch.uint8:
            return noisy.round_().clamp_(0, 255).to(torch.uint8), targets
        return noisy.clamp_(0, 1).to(images.dtype), targets

"""Additive Gaussian noise with a per-sample standard deviation, on both backends."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from effl_plugins.augment import BatchAugmentation, ImageAugmentation, uniform


def _max_sigma(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"max_sigma must be in [0, 1] (fraction of the value range), got {value!r}")
    return float(value)


class GaussianNoise(BatchAugmentation):
    """Add N(0, sigma^2) noise, sigma ~ U(0, max_sigma) per sample, then clip to the valid range.

    Shape: images ``[B, C, H, W]`` uint8 or float -> same.
    params: ``sigma`` ``[B]`` (a fraction of the value range), ``noise`` ``[B, C, H, W]`` standard normal.
    """

    #: The arguments effl's conformance checks build this op with (the defaults would do; shown as an example).
    conformance_kwargs: ClassVar[dict[str, Any]] = {"max_sigma": 0.2}

    def __init__(self, max_sigma: float = 0.1):
        super().__init__()
        self.max_sigma = _max_sigma(max_sigma)

    def sample_params(self, images, generator=None):
        # every sample's parameters at once, as tensors with a leading batch dimension, drawn from
        # ``generator`` on its own device (so a seeded generator reproduces them) and moved to the images
        sigma = uniform((images.shape[0],), 0.0, self.max_sigma, images.device, generator)
        noise = torch.randn(images.shape, generator=generator, device=generator.device if generator else images.device)
        return {"sigma": sigma, "noise": noise.to(images.device, non_blocking=True)}

    def apply(self, images, targets, params):
        # one expression for the whole batch; ``images`` itself is never written
        top = 255.0 if images.dtype == torch.uint8 else 1.0
        work = images.to(torch.promote_types(images.dtype, torch.float32))
        noisy = torch.addcmul(work, params["noise"], (params["sigma"] * top)[:, None, None, None])
        if images.dtype == torch.uint8:
            return noisy.round_().clamp_(0, 255).to(torch.uint8), targets
        return noisy.clamp_(0, 1).to(images.dtype), targets


class GaussianNoiseImage(ImageAugmentation):
    """The same noise on one ``H x W x C`` uint8 image (image backend, e.g. in DataLoader workers).

    params: ``sigma`` (float), ``noise`` ``H x W x C`` float32 standard normal.
    """

    conformance_kwargs: ClassVar[dict[str, Any]] = {"max_sigma": 0.2}

    def __init__(self, max_sigma: float = 0.1):
        super().__init__()
        self.max_sigma = _max_sigma(max_sigma)

    def sample_params(self, img, rng):
        return {"sigma": float(rng.uniform(0.0, self.max_sigma)), "noise": rng.standard_normal(img.shape, np.float32)}

    def apply(self, img, params):
        noisy = img.astype(np.float32) + params["noise"] * np.float32(params["sigma"] * 255.0)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)

"""Gaussian blur: convolve each image with a Gaussian of its own standard deviation (PIL's
``ImageFilter.GaussianBlur(radius)``, whose radius is the standard deviation; timm's ``GaussianBlurRand``,
the blur of DeiT III's 3-Augment, Touvron et al. 2022).

The kernel is the sampled Gaussian over ``[-r, r]`` with ``r = ceil(3 * sigma)`` of the op's largest sigma,
normalised to sum 1, applied along x then y with the edge pixels repeated (PIL's three box blurs approximate
the same Gaussian). ``sigma = 0`` leaves a sample unchanged. uint8 is computed in float32 and rounded back.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .._validate import probability
from .base import Augmentation, bernoulli, image_backend, uniform
from .geometric import check_range

__all__ = ["GaussianBlur", "GaussianBlurImage", "gaussian_blur", "kernel_radius"]


def kernel_radius(sigma: float) -> int:
    """Half the kernel's width for a standard deviation: ``ceil(3 * sigma)``, at least 1."""
    return max(1, math.ceil(3 * sigma))


def gaussian_kernels(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Each sample's normalised 1-D Gaussian over ``[-radius, radius]`` (a unit impulse where ``sigma`` is 0).

    Shape:
        sigma ``[B]`` -> ``[B, 2 * radius + 1]`` float32.
    """
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=sigma.device)
    spread = sigma.to(torch.float32).clamp(min=1e-6).view(-1, 1)
    weights = torch.exp(-0.5 * (offsets / spread) ** 2)
    return weights / weights.sum(1, keepdim=True)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Blur each sample with its own ``sigma`` ``[B]`` (pixels), kernels of ``radius``, edges repeated.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same.
    """
    batch, channels, height, width = images.shape
    compute = torch.float32 if images.dtype == torch.uint8 else images.dtype
    kernels = gaussian_kernels(sigma, radius).to(compute).repeat_interleave(channels, 0)  # [B * C, K]
    x = images.to(compute).reshape(1, batch * channels, height, width)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernels[:, None, None, :], groups=len(kernels))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernels[:, None, :, None], groups=len(kernels))
    x = x.view(batch, channels, height, width)
    if images.dtype == torch.uint8:
        return x.round_().clamp_(0, 255).to(torch.uint8)
    return x.clamp_(0.0, 1.0)


class GaussianBlur(Augmentation):
    """Per-sample Gaussian blur, sigma ~ U(sigma) pixels (timm's 3-Augment: ``(0.1, 2.0)``).

    Args:
        sigma: a standard deviation in pixels or a range ``(low, high)``; kernels reach ``ceil(3 * high)``.
        p: probability that a sample is blurred at all.

    ``backend="image"``: ``cv2.GaussianBlur`` with the same kernel; params ``sigma`` (float).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``sigma`` ``[B]`` float32 (0 where not applied).

    Example:
        >>> x = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
        >>> x[0, 0, 2, 2] = 255
        >>> y, _ = GaussianBlur(sigma=1.0)(x, params={"sigma": torch.tensor([1.0])})
        >>> int(y[0, 0, 2, 2]), int(y.sum()) > 200
        (41, True)
    """

    chunked = True

    def __init__(self, sigma: float | tuple[float, float] = (0.1, 2.0), p: float = 1.0, *, backend: str = "batch"):
        super().__init__(backend)
        self.sigma = check_range(sigma if isinstance(sigma, (list, tuple)) else (sigma, sigma), "sigma", minimum=0.0)
        self.p = probability(p)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        sigma = uniform((batch,), *self.sigma, device, generator)
        return {"sigma": sigma * bernoulli((batch,), self.p, device, generator)}

    def apply(self, images, targets, params):
        return gaussian_blur(images, params["sigma"], kernel_radius(self.sigma[1])), targets

    def sample_params_image(self, img, rng):
        return {"sigma": float(np.float32(rng.uniform(*self.sigma))) * (rng.random() < self.p)}

    def apply_image(self, img, params):
        sigma = float(params["sigma"])
        if sigma <= 0:
            return img.copy()
        size = 2 * kernel_radius(self.sigma[1]) + 1
        out = cv2.GaussianBlur(img, (size, size), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
        return out.reshape(img.shape)


GaussianBlurImage = image_backend(GaussianBlur)

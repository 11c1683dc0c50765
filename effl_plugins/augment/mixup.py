"""MixUp (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"): blend each image with a
partner, ``λ·x + (1-λ)·x_partner``, and the labels with the same λ, per sample.

uint8 images blend in float32 and round back to uint8; floating images blend in their own dtype, each result
clamped between its two inputs (so float images in [0, 1] stay there despite rounding).
"""

from __future__ import annotations

import torch

from .mixing import MixingAugmentation

__all__ = ["MixUp"]


class MixUp(MixingAugmentation):
    """Per-sample MixUp with soft targets weighted by λ.

    Args: see :class:`~effl_plugins.augment.mixing.MixingAugmentation` (``alpha``, ``num_classes``,
    ``label_smoothing``, ``per_batch``, ``p``).

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same; targets ``[B]`` int or ``[B, K]`` -> ``[B, K]`` float32.
        params: ``permutation`` ``[B]`` int64 (partner of each sample), ``lam`` ``[B]`` float64 in [0, 1]
        (weight of the sample itself).

    Example:
        >>> aug = MixUp(alpha=0.4, num_classes=2)
        >>> x = torch.rand(4, 3, 8, 8)
        >>> y, t = aug(x, torch.tensor([0, 1, 1, 0]), generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(t.sum(1), torch.ones(4)))
        True
    """

    def sample_params(self, images, generator=None):
        lam, permutation = self._sample_lam_and_partner(images, generator)
        return {"permutation": permutation, "lam": lam}

    def apply(self, images, targets, params):
        batch = images.shape[0]
        permutation = self._check_permutation(params, batch)
        lam = params["lam"]
        if not isinstance(lam, torch.Tensor) or lam.shape != (batch,) or not lam.dtype.is_floating_point:
            raise ValueError(f"params['lam'] must be a float tensor [B] with B={batch}, got {lam!r}")
        compute = torch.float32 if images.dtype == torch.uint8 else images.dtype
        keep = lam.to(compute)[:, None, None, None]
        take = (1.0 - lam.double()).to(compute)[:, None, None, None]
        own, partner = images.to(compute), images[permutation].to(compute)
        blended = (own * keep).add_(partner * take)
        if images.dtype == torch.uint8:  # rounding to integers absorbs any float overshoot
            blended = blended.round_().to(torch.uint8)
        else:  # a convex blend lies between its two inputs; float rounding may not: clamp back (keeps [0, 1])
            blended = torch.minimum(torch.maximum(blended, torch.minimum(own, partner)), torch.maximum(own, partner))
        return blended, self._mixed_targets(targets, batch, permutation, lam.double())

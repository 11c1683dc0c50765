"""Color (saturation): blend each image with its greyscale version (PIL ``ImageEnhance.Color``).

``out = factor * image + (1 - factor) * grey(image)``, clipped; factor 0 gives greyscale, above 1
oversaturates; single-channel images are returned unchanged (as PIL does). Matches
``torchvision.transforms.v2.functional.adjust_saturation`` (see ``enhance`` for the one source of
a difference of 1 on uint8).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from .base import image_backend
from .enhance import Enhance
from .functional.enhance import blend, luma, luma_image
from .functional.lut import lookup_pairs_image, truncate_to_uint8

__all__ = ["Color", "ColorImage"]


class Color(Enhance):
    """Per-sample random saturation, factor ~ U(1 - max_delta, 1 + max_delta).

    Arguments and shapes: :class:`~.enhance.Enhance`.

    ``backend="image"``: NumPy float32, the same arithmetic; params ``factor``.

    Example:
        >>> aug = Color(max_delta=1.0)
        >>> x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        >>> grey, _ = aug(x, params={"factor": torch.zeros(4)})
        >>> bool((grey[:, 0] == grey[:, 1]).all() and (grey[:, 1] == grey[:, 2]).all())
        True
    """

    #: half the usual chunk: the blend with the luma keeps four float32 planes per sample alive
    chunk_bytes = 1 << 19

    def apply(self, images, targets, params):
        if images.shape[1] == 1:
            return images, targets
        compute = torch.float32 if images.dtype == torch.uint8 else images.dtype
        factor = params["factor"].to(compute).view(-1, 1, 1, 1)
        blended = blend(images.to(compute), luma(images).to(compute), factor)
        if images.dtype == torch.uint8:
            return truncate_to_uint8(blended), targets
        return blended.clamp_(0, 1), targets

    def apply_image(self, img, params):
        if img.ndim == 2 or img.shape[2] == 1:
            return img.copy()
        grey = luma_image(img)
        greys = cv2.merge([grey] * img.shape[2]).reshape(img.shape)
        return lookup_pairs_image(_color_table(float(np.float32(params["factor"]))), greys, img)


@functools.lru_cache(maxsize=64)
def _color_table(factor: float) -> np.ndarray:
    """``table[grey, value]``: the blend of every (grey, pixel) pair with the arithmetic of ``blend_image``
    (the float32 product ``value * factor`` widened, plus ``grey * (1 - factor)`` in float64, rounded once),
    its two products taken on the 256 values rather than on all 65,536 pairs."""
    factor32 = np.float32(factor)
    ramp = np.arange(256, dtype=np.float32)
    scaled = (ramp * factor32).astype(np.float64)
    degenerate = ramp.astype(np.float64) * np.float64(np.float32(1) - factor32)
    table = np.clip((scaled[None, :] + degenerate[:, None]).astype(np.float32), 0, 255).astype(np.uint8)
    table.flags.writeable = False
    return table


ColorImage = image_backend(Color)

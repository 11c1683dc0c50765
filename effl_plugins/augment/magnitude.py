"""RandAugment's magnitude scale, shared by the ops that RandAugment and TrivialAugment compose.

Every op class offers ``params_from_magnitude(images, magnitude, sign)``: the parameters that
torchvision's ``RandAugment._augmentation_space`` (num_bins=31) gives at magnitude bin
``M = 30 * magnitude``, returned in the form that the op's ``apply`` takes. ``sign`` (+1 or -1)
matters only for ops with ``signed = True`` (the enhance factors go up or down).

- brightness (factor), color, contrast, sharpness: factor ``1 + sign * 0.9 * magnitude``
- posterize: bits ``8 - round(4 * magnitude)``
- solarize: threshold ``1 - magnitude`` (a fraction of the value range, 255 * (1 - magnitude) on uint8)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["check_magnitudes", "check_magnitude", "enhance_factor", "posterize_bits", "MAX_ENHANCE"]

#: torchvision's enhance range: factors 1 +- 0.9 at the top magnitude.
MAX_ENHANCE = 0.9


def check_magnitudes(images: torch.Tensor, magnitude: Any, sign: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate batch magnitudes ``[B]`` in [0, 1] and signs ``[B]`` of +-1; return float32 on the images' device.

    Values are checked when the tensors live on the CPU (free); on an accelerator they are clamped
    instead, so that a call never waits for the device.
    """
    batch = images.shape[0]
    out = []
    for name, value in (("magnitude", magnitude), ("sign", sign)):
        if not isinstance(value, torch.Tensor) or not value.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating torch.Tensor of shape [{batch}], got {type(value).__name__} {getattr(value, 'dtype', '')}")
        if tuple(value.shape) != (batch,):
            raise ValueError(f"{name} must have shape [{batch}] (one per image), got {tuple(value.shape)}")
        out.append(value.to(images.device, torch.float32))
    magnitude, sign = out
    if magnitude.device.type == "cpu":
        if not bool(((magnitude >= 0) & (magnitude <= 1)).all()):
            raise ValueError(f"magnitude must lie in [0, 1] (M / 30), got values from {magnitude.min().item()} to {magnitude.max().item()}")
        if not bool((sign.abs() == 1).all()):
            raise ValueError(f"sign must hold +1 or -1, got {sign.tolist()}")
    return magnitude.clamp(0, 1), torch.where(sign < 0, -1.0, 1.0).to(magnitude)


def check_magnitude(magnitude: Any, sign: Any = 1) -> tuple[float, float]:
    """Validate one image's magnitude in [0, 1] and sign +-1."""
    if isinstance(magnitude, bool) or not isinstance(magnitude, (int, float)) or not 0.0 <= float(magnitude) <= 1.0:
        raise ValueError(f"magnitude must be a number in [0, 1] (M / 30), got {magnitude!r}")
    if isinstance(sign, bool) or sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    return float(magnitude), float(sign)


def enhance_factor(magnitude, sign):
    """Brightness/color/contrast/sharpness factor ``1 + sign * 0.9 * magnitude`` (tensors or floats)."""
    return 1.0 + sign * MAX_ENHANCE * magnitude


def posterize_bits(magnitude):
    """Bits kept by posterize: ``8 - round(4 * magnitude)``, from 8 (no change) down to 4."""
    if isinstance(magnitude, torch.Tensor):
        return 8 - torch.round(4 * magnitude).long()
    return 8 - int(round(4 * magnitude))

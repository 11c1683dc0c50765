"""TrivialAugment (Müller & Hutter 2021, "TrivialAugment: Tuning-free Yet State-of-the-Art Data
Augmentation"): each image gets ONE op, drawn uniformly from the 14, at a magnitude bin drawn
uniformly from 0..30; no hyper-parameters.

``wide=True`` (default) uses the paper's wide space, torchvision's ``TrivialAugmentWide`` (:data:`WIDE_MAXIMUM`);
``wide=False`` uses RandAugment's ranges (the paper's "TA (RA)"). The op, sign and warp conventions are those of
:mod:`.rand_augment`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..base import image_backend
from .device_path import RAND_AUGMENT_SPACE, WIDE_SPACE
from .magnitude import LEVEL_TO_ARG, bin_value, bin_value_scalar
from .op_space import MAX_MAGNITUDE
from .rand_augment import RandAugment

__all__ = ["TrivialAugment", "TrivialAugmentImage", "WIDE_MAXIMUM"]

#: The top of the wide space (magnitude bin 30) for the ops it widens.
WIDE_MAXIMUM = {
    "rotate": LEVEL_TO_ARG["rotate"].wide,
    "shear": LEVEL_TO_ARG["shear_x"].wide,
    "translate": LEVEL_TO_ARG["translate_x"].wide,
    "enhance": LEVEL_TO_ARG["brightness"].wide,
    "posterize_bits": int(LEVEL_TO_ARG["posterize"].wide),
}
_ENHANCE = ("brightness", "color", "contrast", "sharpness")


def _wide(name: str, op: Any, params: dict, magnitude, sign, batch: bool) -> dict:
    """``params`` with the wide space's values in place of RandAugment's, computed in float64 from tensors
    (``batch``) or floats, returned in the op's own dtypes (float32 tensors, float32 NumPy values)."""
    if batch:
        magnitude, sign = magnitude.double(), sign.double()
    wide = dict(params)  # solarize, auto_contrast, equalize: the same in both spaces
    if name == "rotate":
        wide["angle"] = sign * WIDE_MAXIMUM["rotate"] * magnitude
    elif name.startswith("shear"):
        wide["shear"] = _pair(op, sign * WIDE_MAXIMUM["shear"] * magnitude, 0.0 * magnitude, batch)
    elif name.startswith("translate"):  # torchvision's int(sign * linspace(0, 32, 31)[M]) whole pixels
        top = WIDE_MAXIMUM["translate"]
        if batch:
            shift = sign * torch.trunc(bin_value(0.0, top, magnitude.float())).to(sign.dtype)
        else:
            shift = sign * math.trunc(bin_value_scalar(0.0, top, float(magnitude)))
        wide["shift"] = _pair(op, shift, 0.0 * magnitude, batch)
    elif name in _ENHANCE:
        factor, like = 1.0 + sign * WIDE_MAXIMUM["enhance"] * magnitude, params["factor"]
        if batch:
            wide["factor"] = factor.float().view(-1, *[1] * (like.ndim - 1)).expand_as(like).contiguous()
        else:
            wide["factor"] = np.full(np.shape(like), factor, dtype=np.float32)
    elif name == "posterize":
        bits = WIDE_MAXIMUM["posterize_bits"] * magnitude
        wide["bits"] = 8 - (torch.round(bits).long() if batch else int(round(bits)))
    if batch:
        return {
            key: value.float() if isinstance(value, torch.Tensor) and value.dtype == torch.float64 else value
            for key, value in wide.items()
        }
    return {key: (float(np.float32(v)) if key == "angle" else v) for key, v in wide.items()}


def _pair(op: Any, amount, zero, batch: bool):
    """``(amount, 0)`` along the op's axis, a float32 tensor ``[B, 2]`` or array ``[2]``."""
    parts = [amount, zero] if op.axis == "x" else [zero, amount]
    return torch.stack(parts, -1).float() if batch else np.array(parts, dtype=np.float32)


def _check_wide(wide: Any) -> bool:
    if not isinstance(wide, bool):
        raise ValueError(f"wide must be True (TrivialAugmentWide's ranges) or False (RandAugment's), got {wide!r}")
    return wide


class TrivialAugment(RandAugment):
    """Per-sample TrivialAugment on a batch, or on one image (``backend="image"``): one op per image at a uniform
    magnitude bin.

    Args:
        wide: the wide magnitude space (default) or RandAugment's.
        ops, interpolation, fill, backend: as in :class:`~effl_plugins.augment.auto.rand_augment.RandAugment`.

    Shape:
        images ``[B, C, H, W]`` -> same. params: ``ops``, ``magnitude`` (bin / 30), ``sign``, each ``[B, 1]``.

    Example:
        >>> aug = TrivialAugment()
        >>> x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> sorted(aug.last_params)
        ['magnitude', 'ops', 'sign']
    """

    def __init__(
        self,
        wide: bool = True,
        ops: Sequence[str] | None = None,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        *,
        backend: str = "batch",
    ):
        super().__init__(
            num_ops=1, magnitude=MAX_MAGNITUDE, ops=ops, interpolation=interpolation, fill=fill, backend=backend
        )
        self.wide = _check_wide(wide)

    def _op_params(self, k, images, magnitude, sign):
        """RandAugment's params of op ``k``, with the wide space's values where ``wide``."""
        params = super()._op_params(k, images, magnitude, sign)
        if not self.wide:
            return params
        return _wide(self.op_names[k], self._ops[k], params, magnitude, sign, self.backend == "batch")

    @property
    def _space(self):
        return WIDE_SPACE if self.wide else RAND_AUGMENT_SPACE

    def _sample_magnitudes_image(self, count, rng):
        return (rng.integers(int(MAX_MAGNITUDE) + 1, size=count) / MAX_MAGNITUDE).astype(np.float32)

    def _sample_magnitudes(self, shape, device, generator):
        where = generator.device if generator is not None else device
        bins = torch.randint(int(MAX_MAGNITUDE) + 1, shape, generator=generator, device=where)
        return (bins.to(torch.float32) / MAX_MAGNITUDE).to(device)

    def _sampled_codes(self, ops, magnitude, sign):
        """Fresh draws are integer bins ``bin / 30`` (exactly the bin's level): their codes without a check."""
        bins = (magnitude * MAX_MAGNITUDE).round_().long()
        return (ops * (int(MAX_MAGNITUDE) + 1) + bins) * 2 + (sign > 0).long()

    @functools.cached_property
    def _image_twin(self) -> TrivialAugment:
        return TrivialAugment(self.wide, self.op_names, self.interpolation, self.fill, backend="image")


TrivialAugmentImage = image_backend(TrivialAugment)

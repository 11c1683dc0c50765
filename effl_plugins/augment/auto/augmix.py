"""AugMix (Hendrycks et al. 2020, "AugMix: A Simple Data Processing Method to Improve Robustness and
Uncertainty"), as timm has it (``timm.data.auto_augment.augment_and_mix_transform``, ``AugMixAugment``).

Per image: ``width`` chains of ``depth`` ops, each drawn uniformly from timm's AugMix op set (:data:`AUGMIX_OPS`)
at a level ``U(0, magnitude)`` (or ``N(magnitude, std)``); the chains' results mixed with weights ~ Dirichlet(alpha),
then blended with the original image by ``m ~ Beta(alpha, alpha)``: ``out = (1 - m) * x + m * sum_i w_i *
chain_i(x)``. The ops and their level mapping are AutoAugment's (:func:`.auto_augment.run_level_ops`), the
``width`` chains run as one batch of ``B * width`` images; the mix is computed in float32 and rounded once (timm
truncates twice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..._validate import choice, integer, number, positive
from ..base import Augmentation, batch_as_image, image_as_batch, image_backend
from ..functional.mixing import sample_beta
from .auto_augment import LEVEL_TO_PARAMS, MAX_LEVEL, _check_fill, build_level_ops, run_level_ops

__all__ = ["AugMix", "AugMixImage", "AUGMIX_OPS"]

#: timm's ``_AUGMIX_TRANSFORMS``, in its order.
AUGMIX_OPS: tuple[str, ...] = (
    "AutoContrast",
    "ColorIncreasing",
    "ContrastIncreasing",
    "BrightnessIncreasing",
    "SharpnessIncreasing",
    "Equalize",
    "Rotate",
    "PosterizeIncreasing",
    "SolarizeIncreasing",
    "ShearX",
    "ShearY",
    "TranslateXRel",
    "TranslateYRel",
)
#: the most ops of a chain drawn when ``depth`` is -1 (timm's ``np.random.randint(1, 4)``)
RANDOM_DEPTH = 3


class AugMix(Augmentation):
    """Per-sample AugMix on a batch.

    Args:
        magnitude: timm's severity ``m`` (0..10): the levels' top (``magnitude_std=inf``) or mean.
        width: chains mixed per image (timm's ``w``).
        depth: ops per chain (timm's ``d``); -1 draws 1..3 per chain.
        alpha: the chains' weights ~ Dirichlet(alpha), the blend with the original ~ Beta(alpha, alpha) (``a``).
        magnitude_std: level noise (``mstd``); ``inf`` (timm's AugMix default) draws ``U(0, magnitude)``.
        blended: timm's ``b`` (its blend order); the same mix here.
        interpolation: of the geometric ops (``"bilinear"`` or ``"nearest"``).
        fill: uncovered pixels, a fraction of the value range (or 3, per channel; timm's grey 128 by default).
        backend: ``"batch"`` or ``"image"``: the same draw for one ``H x W x C`` uint8 image (from a NumPy
            ``Generator``), run by the batch form on it as a batch of one, so both share every op's arithmetic;
            params as the batch's, without the batch dimension.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``weight`` ``[B, W]`` float32 (sums to 1),
        ``blend`` ``[B]`` float32 (``m``), ``kind`` ``[B, W, D]`` int64 (indexes :data:`AUGMIX_OPS`),
        ``applied`` ``[B, W, D]`` bool (the chain's length), ``level`` ``[B, W, D]`` float32 (0..10), ``sign``
        ``[B, W, D]`` float32 (+-1); W the width, D the depth (3 when drawn).

    Example:
        >>> aug = AugMix(magnitude=5, width=3, depth=2)
        >>> x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> aug.last_params["kind"].shape
        torch.Size([4, 3, 2])
    """

    def __init__(
        self,
        magnitude: float = 3,
        width: int = 3,
        depth: int = -1,
        alpha: float = 1.0,
        magnitude_std: float = math.inf,
        blended: bool = False,
        interpolation: str = "bilinear",
        fill: float | Sequence[float] = 128 / 255,
        *,
        backend: str = "batch",
    ):
        super().__init__(backend)
        self.magnitude = float(number(magnitude, "magnitude", low=0, high=MAX_LEVEL, note="timm's 0..10 severity"))
        self.width = integer(width, "width", low=1, note="chains mixed per image")
        self.depth = integer(depth, "depth", low=-1, note="ops per chain, -1: 1..3 drawn per chain")
        if self.depth == 0:
            raise ValueError("depth must be -1 (1..3 ops per chain, drawn) or at least 1, got 0")
        self.alpha = float(positive(alpha, "alpha", note="weights ~ Dirichlet(alpha), blend ~ Beta(alpha, alpha)"))
        if magnitude_std != math.inf:
            magnitude_std = number(magnitude_std, "magnitude_std", low=0, note="timm's 0..10 levels, or inf: U(0, m)")
        self.magnitude_std = float(magnitude_std)
        self.blended = bool(blended)
        self.interpolation = choice(interpolation, "interpolation", ("bilinear", "nearest"))
        self.fill = _check_fill(fill)
        self._signed = torch.tensor([LEVEL_TO_PARAMS[name][2] for name in AUGMIX_OPS])
        self._ops = build_level_ops(AUGMIX_OPS, self.interpolation, self.fill)

    @property
    def slots(self) -> int:
        """D: the ops a chain holds at most."""
        return self.depth if self.depth > 0 else RANDOM_DEPTH

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        where = generator.device if generator is not None else device
        shape = (batch, self.width, self.slots)
        concentration = torch.full((batch, self.width), self.alpha, dtype=torch.float64, device=where)
        weight = torch._sample_dirichlet(concentration, generator=generator).to(torch.float32)
        blend = sample_beta(batch, self.alpha, where, generator).to(torch.float32)
        kind = torch.randint(len(AUGMIX_OPS), shape, generator=generator, device=where)
        if self.depth > 0:
            applied = torch.ones(shape, dtype=torch.bool, device=where)
        else:
            length = torch.randint(1, RANDOM_DEPTH + 1, (batch, self.width, 1), generator=generator, device=where)
            applied = torch.arange(RANDOM_DEPTH, device=where) < length
        level = torch.full(shape, self.magnitude, device=where)
        if self.magnitude_std == math.inf:
            level = level * torch.rand(shape, generator=generator, device=where)
        elif self.magnitude_std > 0:
            level = level + self.magnitude_std * torch.randn(shape, generator=generator, device=where)
        coin = torch.rand(shape, generator=generator, device=where) < 0.5
        sign = torch.where(coin & self._signed.to(where)[kind], -1.0, 1.0)
        params = {
            "weight": weight,
            "blend": blend,
            "kind": kind,
            "applied": applied,
            "level": level.clamp(0.0, MAX_LEVEL),
            "sign": sign,
        }
        return {key: value.to(device) for key, value in params.items()}

    def apply(self, images, targets, params):
        weight, blend = params["weight"].to(torch.float32), params["blend"].to(torch.float32)
        batch, width, slots = len(images), self.width, self.slots
        chain = [params[key].shape for key in ("kind", "applied", "level", "sign")]
        if weight.shape != (batch, width) or blend.shape != (batch,) or set(chain) != {(batch, width, slots)}:
            raise ValueError(
                f"params 'weight' must be [B, {width}], 'blend' [B] and 'kind', 'applied', 'level', 'sign' "
                f"[B, {width}, {slots}] with B={batch}, got {tuple(weight.shape)}, {tuple(blend.shape)} and "
                f"{[tuple(shape) for shape in chain]}"
            )
        chains = mix_chains(images, self._ops, params, width)
        return blend_with_original(images, chains, weight, blend), targets

    def sample_params_image(self, img, rng):
        width, slots = self.width, self.slots
        shape = (width, slots)
        weight = rng.dirichlet([self.alpha] * width).astype(np.float32)
        blend = np.float32(rng.beta(self.alpha, self.alpha))
        kind = rng.integers(len(AUGMIX_OPS), size=shape)
        if self.depth > 0:
            applied = np.ones(shape, dtype=bool)
        else:
            applied = np.arange(RANDOM_DEPTH) < rng.integers(1, RANDOM_DEPTH + 1, size=(width, 1))
        level = np.full(shape, self.magnitude)
        if self.magnitude_std == math.inf:
            level = level * rng.random(shape)
        elif self.magnitude_std > 0:
            level = level + self.magnitude_std * rng.standard_normal(shape)
        signed = self._signed.numpy()[kind]
        sign = np.where((rng.random(shape) < 0.5) & signed, -1.0, 1.0).astype(np.float32)
        level = np.clip(level, 0.0, MAX_LEVEL).astype(np.float32)
        return {"weight": weight, "blend": blend, "kind": kind, "applied": applied, "level": level, "sign": sign}

    def apply_image(self, img, params):
        batch = {key: torch.as_tensor(np.asarray(value))[None] for key, value in params.items()}
        out, _ = AugMix.apply(self, image_as_batch(img), None, batch)
        return batch_as_image(out, img)


def mix_chains(images: torch.Tensor, ops: dict, params: dict[str, torch.Tensor], width: int) -> torch.Tensor:
    """Every image's ``width`` chains, run as one batch of ``B * width`` images by AutoAugment's runner.

    Shape:
        images ``[B, C, H, W]`` -> ``[B, width, C, H, W]`` (images' dtype).
    """
    batch, rest = len(images), images.shape[1:]
    flat = images.unsqueeze(1).expand(batch, width, *rest).reshape(batch * width, *rest)
    chain = tuple(params[key].reshape(batch * width, -1) for key in ("kind", "applied", "level", "sign"))
    draw = torch.zeros_like(chain[2])  # no op of AugMix's set takes a random draw of its own
    out = run_level_ops(flat, ops, AUGMIX_OPS, (*chain, draw))
    return out.view(batch, width, *rest)


def blend_with_original(
    images: torch.Tensor, chains: torch.Tensor, weight: torch.Tensor, blend: torch.Tensor
) -> torch.Tensor:
    """``(1 - m) * x + m * sum_i w_i * chain_i`` in float32, rounded once for uint8 (a new tensor).

    Shape:
        images ``[B, C, H, W]``, chains ``[B, W, C, H, W]``, weight ``[B, W]``, blend ``[B]`` -> ``[B, C, H, W]``.
    """
    mixed = torch.einsum("bw,bwchx->bchx", weight, chains.to(torch.float32))
    m = blend.view(-1, 1, 1, 1)
    out = images.to(torch.float32) * (1.0 - m) + mixed * m
    if images.dtype == torch.uint8:
        return out.round_().clamp_(0, 255).to(torch.uint8)
    return out.clamp_(0.0, 1.0).to(images.dtype)


AugMixImage = image_backend(AugMix)

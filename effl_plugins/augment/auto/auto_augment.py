"""AutoAugment (Cubuk et al. 2019, "AutoAugment: Learning Augmentation Strategies from Data"): each image gets
one sub-policy drawn uniformly from a fixed list; each op of it runs with its own probability at its own
magnitude, in order.

The policies are timm's (``timm.data.auto_augment.auto_augment_policy``), under timm's names: ``original`` (the
paper's ImageNet policy), ``v0`` (the TPU EfficientNet one), their ``r`` variants with the research posterize (bits
discarded grow with the magnitude), and ``3a``, DeiT III's 3-Augment (Touvron et al. 2022): one of solarize at
128, grey or a random blur.

Magnitudes are timm's levels (0..10), each op's parameters timm's ``LEVEL_TO_ARG`` of them (:data:`LEVEL_TO_PARAMS`),
given to the registered op's own ``apply``: no op's arithmetic is written here. Order: timm's, op after op; a
geometric op warps at once (bilinear, one of timm's two random interpolations; ``fill=(0.485, 0.456, 0.406)`` gives
the ImageNet mean timm's training transforms fill with).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ..._validate import choice, number
from ..base import Augmentation, BatchAugmentation, batch_as_image, image_as_batch, image_backend
from ..gaussian_blur import GaussianBlur
from ..invert import Invert
from ..solarize_add import MAX_ADD, THRESHOLD, SolarizeAdd
from .op_space import build_ops
from .rand_augment import _where_chosen

__all__ = [
    "AutoAugment",
    "AutoAugmentImage",
    "POLICIES",
    "LEVEL_TO_PARAMS",
    "MAX_LEVEL",
    "build_level_ops",
    "run_level_ops",
]

#: timm's magnitude scale (``_LEVEL_DENOM``).
MAX_LEVEL = 10.0
#: timm's largest relative translation (``translate_pct``).
TRANSLATE_PCT = 0.45

Policy = tuple[tuple[tuple[str, float, int], ...], ...]

_ORIGINAL: Policy = (
    (("PosterizeOriginal", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
    (("PosterizeOriginal", 0.6, 7), ("PosterizeOriginal", 0.6, 6)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, 4), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, 7)),
    (("PosterizeOriginal", 0.8, 5), ("Equalize", 1.0, 2)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, 8), ("PosterizeOriginal", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, 2)),
    (("Equalize", 0.0, 7), ("Equalize", 0.8, 8)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, 8)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, 9)),
    (("Color", 0.4, 0), ("Equalize", 0.6, 3)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
)

_V0: Policy = (
    (("Equalize", 0.8, 1), ("ShearY", 0.8, 4)),
    (("Color", 0.4, 9), ("Equalize", 0.6, 3)),
    (("Color", 0.4, 1), ("Rotate", 0.6, 8)),
    (("Solarize", 0.8, 3), ("Equalize", 0.4, 7)),
    (("Solarize", 0.4, 2), ("Solarize", 0.6, 2)),
    (("Color", 0.2, 0), ("Equalize", 0.8, 8)),
    (("Equalize", 0.4, 8), ("SolarizeAdd", 0.8, 3)),
    (("ShearX", 0.2, 9), ("Rotate", 0.6, 8)),
    (("Color", 0.6, 1), ("Equalize", 1.0, 2)),
    (("Invert", 0.4, 9), ("Rotate", 0.6, 0)),
    (("Equalize", 1.0, 9), ("ShearY", 0.6, 3)),
    (("Color", 0.4, 7), ("Equalize", 0.6, 0)),
    (("Posterize", 0.4, 6), ("AutoContrast", 0.4, 7)),
    (("Solarize", 0.6, 8), ("Color", 0.6, 9)),
    (("Solarize", 0.2, 4), ("Rotate", 0.8, 9)),
    (("Rotate", 1.0, 7), ("TranslateYRel", 0.8, 9)),
    (("ShearX", 0.0, 0), ("Solarize", 0.8, 4)),
    (("ShearY", 0.8, 0), ("Color", 0.6, 4)),
    (("Color", 1.0, 0), ("Rotate", 0.6, 2)),
    (("Equalize", 0.8, 4), ("Equalize", 0.0, 8)),
    (("Equalize", 1.0, 4), ("AutoContrast", 0.6, 2)),
    (("ShearY", 0.4, 7), ("SolarizeAdd", 0.6, 7)),
    (("Posterize", 0.8, 2), ("Solarize", 0.6, 10)),
    (("Solarize", 0.6, 8), ("Equalize", 0.6, 1)),
    (("Color", 0.8, 6), ("Rotate", 0.4, 5)),
)

_THREE_AUGMENT: Policy = (
    (("Solarize", 1.0, 5),),
    (("Desaturate", 1.0, 10),),
    (("GaussianBlurRand", 1.0, 10),),
)


def _renamed(policy: Policy, old: str, new: str) -> Policy:
    """``policy`` with op ``old`` replaced by ``new`` (the ``r`` variants: the research posterize)."""
    return tuple(tuple((new if name == old else name, p, m) for name, p, m in sub) for sub in policy)


#: name -> sub-policies of ``(timm op name, probability, level)``, as timm's ``auto_augment_policy(name)``.
POLICIES: dict[str, Policy] = {
    "original": _ORIGINAL,
    "originalr": _renamed(_ORIGINAL, "PosterizeOriginal", "PosterizeIncreasing"),
    "v0": _V0,
    "v0r": _renamed(_V0, "Posterize", "PosterizeIncreasing"),
    "3a": _THREE_AUGMENT,
}


# -- timm's LEVEL_TO_ARG as our ops' params: f(op, images, level [B], sign [B] of +-1, draw [B] in [0, 1)) ------


def _fraction(level: torch.Tensor) -> torch.Tensor:
    return level.to(torch.float32) / MAX_LEVEL


def _factor(op, images, factor: torch.Tensor) -> dict[str, torch.Tensor]:
    """An enhance op's params (its own shape: ``[B]`` or ``[B, C]``) holding ``factor`` ``[B]``."""
    like = op.params_from_magnitude(images, torch.zeros_like(factor), torch.ones_like(factor))["factor"]
    return {"factor": factor.view(-1, *[1] * (like.ndim - 1)).expand_as(like).to(like.dtype).contiguous()}


def _enhance(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
    """``_enhance_level_to_arg``: factor ``level / 10 * 1.8 + 0.1``."""
    return _factor(op, images, _fraction(level) * 1.8 + 0.1)


def _enhance_increasing(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
    """``_enhance_increasing_level_to_arg``: factor ``max(0.1, 1 +- level / 10 * 0.9)``, away from 1 (no change)."""
    return _factor(op, images, (1.0 + sign.to(torch.float32) * _fraction(level) * 0.9).clamp(min=0.1))


def _desaturate(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
    """``desaturate`` of ``_minmax_level_to_arg(0.5, 1.0)``: colour factor ``1 - (0.5 + 0.5 * level / 10)``."""
    return _factor(op, images, (0.5 - 0.5 * _fraction(level)).clamp(0.0, 1.0))


def _by_magnitude(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
    """Rotate (``level * 3`` degrees), ShearX/Y (factor ``level * 0.03``) and the ops without a level: timm's scale
    is RandAugment's (:mod:`.magnitude`) at ``M / 30 = level / 10``, so the op's own mapping gives timm's value."""
    return op.params_from_magnitude(images, _fraction(level), sign.to(torch.float32))


def _translate_rel(axis: int) -> Callable:
    def params(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
        """``_translate_rel_level_to_arg``: ``level / 10 * 0.45`` of the size, in pixels; PIL's offset moves the
        content the other way from ours (positive: right / down), hence the minus."""
        size = images.shape[-1] if axis == 0 else images.shape[-2]
        amount = -sign.to(torch.float32) * _fraction(level) * TRANSLATE_PCT * size
        zero = torch.zeros_like(amount)
        return {"shift": torch.stack([amount, zero] if axis == 0 else [zero, amount], -1)}

    return params


def _posterize(kind: str) -> Callable:
    def params(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
        """timm's three posterize scales: ``int(level / 10 * 4)`` bits kept (``Posterize``, 0..4), ``4 -`` that
        (``PosterizeIncreasing``), ``+ 4`` (``PosterizeOriginal``, 4..8)."""
        bits = torch.trunc(_fraction(level) * 4).long()
        return {"bits": {"plain": bits, "increasing": 4 - bits, "original": bits + 4}[kind]}

    return params


def _solarize_at(cut: torch.Tensor) -> dict[str, torch.Tensor]:
    """Invert the values ``>= cut`` (0..256); our threshold is half a level below it, so uint8 and float agree."""
    return {"threshold": (cut - 0.5) / 255, "applied": torch.ones_like(cut, dtype=torch.bool)}


def _solarize(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
    """``_solarize_level_to_arg``: values ``>= min(256, int(level / 10 * 256))`` invert."""
    return _solarize_at(torch.trunc(_fraction(level) * 256).clamp(max=256))


def _solarize_increasing(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
    """``_solarize_increasing_level_to_arg``: values ``>= 256 - min(256, int(level / 10 * 256))`` invert."""
    return _solarize_at(256 - torch.trunc(_fraction(level) * 256).clamp(max=256))


def _solarize_add(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
    """``_solarize_add_level_to_arg``: add ``min(128, int(level / 10 * 110))`` to the values below 128."""
    add = torch.trunc(_fraction(level) * 110).clamp(max=128)
    return {"add": add / 255, "threshold": torch.full_like(add, THRESHOLD)}


def _blur(op, images, level, sign, draw) -> dict[str, torch.Tensor]:
    """``gaussian_blur_rand`` of ``_minmax_level_to_arg``: radius ``U(0.1, 2 * level / 10)``, from ``draw``."""
    return {"sigma": 0.1 + (2.0 * _fraction(level) - 0.1) * draw.to(torch.float32)}


#: timm op name -> (our op, timm's LEVEL_TO_ARG as our op's params, whether the level takes a random sign).
LEVEL_TO_PARAMS: dict[str, tuple[str, Callable, bool]] = {
    "AutoContrast": ("auto_contrast", _by_magnitude, False),
    "Equalize": ("equalize", _by_magnitude, False),
    "Invert": ("invert", _by_magnitude, False),
    "Rotate": ("rotate", _by_magnitude, True),
    "ShearX": ("shear_x", _by_magnitude, True),
    "ShearY": ("shear_y", _by_magnitude, True),
    "TranslateXRel": ("translate_x", _translate_rel(0), True),
    "TranslateYRel": ("translate_y", _translate_rel(1), True),
    "Posterize": ("posterize", _posterize("plain"), False),
    "PosterizeIncreasing": ("posterize", _posterize("increasing"), False),
    "PosterizeOriginal": ("posterize", _posterize("original"), False),
    "Solarize": ("solarize", _solarize, False),
    "SolarizeAdd": ("solarize_add", _solarize_add, False),
    "Color": ("color", _enhance, False),
    "Contrast": ("contrast", _enhance, False),
    "Brightness": ("brightness", _enhance, False),
    "Sharpness": ("sharpness", _enhance, False),
    "ColorIncreasing": ("color", _enhance_increasing, True),
    "ContrastIncreasing": ("contrast", _enhance_increasing, True),
    "BrightnessIncreasing": ("brightness", _enhance_increasing, True),
    "SharpnessIncreasing": ("sharpness", _enhance_increasing, True),
    "SolarizeIncreasing": ("solarize", _solarize_increasing, False),
    "Desaturate": ("color", _desaturate, False),
    "GaussianBlurRand": ("gaussian_blur", _blur, False),
}
#: the ops outside RandAugment's op set (:mod:`.op_space`), built here
_OTHER_OPS: dict[str, Callable[[], BatchAugmentation]] = {
    "invert": lambda: Invert(p=1.0),
    "solarize_add": lambda: SolarizeAdd(add=(0.0, MAX_ADD)),
    "gaussian_blur": lambda: GaussianBlur(sigma=(0.1, 2.0)),
}


def build_level_ops(
    timm_names: Sequence[str], interpolation: str, fill: Sequence[float]
) -> dict[str, dict[str, BatchAugmentation]]:
    """Our ops behind timm's op names (:data:`LEVEL_TO_PARAMS`), by our name, for each input kind (``"uint8"``,
    ``"float"``): the geometric ones fill with ``fill`` (fractions of the value range) in that kind's units."""
    names = sorted({LEVEL_TO_PARAMS[name][0] for name in timm_names})
    shared = [name for name in names if name not in _OTHER_OPS]
    built = {}
    for dtype, scale in (("uint8", 255.0), ("float", 1.0)):
        units = [round(v * scale) if dtype == "uint8" else v for v in fill]
        ops = dict(zip(shared, build_ops(shared, "batch", interpolation, units if len(units) > 1 else units[0])))
        built[dtype] = {**ops, **{name: _OTHER_OPS[name]() for name in names if name in _OTHER_OPS}}
    return built


def run_level_ops(
    images: torch.Tensor,
    ops: dict[str, dict[str, BatchAugmentation]],
    kinds: Sequence[str],
    chain: tuple[torch.Tensor, ...],
    slot_kinds: Sequence[Sequence[int]] | None = None,
) -> torch.Tensor:
    """Each sample's chain of timm ops, slot after slot: ``chain`` is ``(kind, applied, level, sign, draw)``, each
    ``[B, S]`` (``kind`` indexes ``kinds``, timm's names), run by ``ops`` (:func:`build_level_ops`); ``slot_kinds``
    (default: every kind in every slot) lists the kinds a slot can hold. ``images`` itself comes back where nothing
    applied.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same.
    """
    kind, applied, level, sign, draw = chain
    table = ops["uint8" if images.dtype == torch.uint8 else "float"]
    out = images
    for slot in range(kind.shape[1]):
        for k in slot_kinds[slot] if slot_kinds is not None else range(len(kinds)):
            name, to_params, _ = LEVEL_TO_PARAMS[kinds[k]]
            op = table[name]

            def run(subset, index, slot=slot, op=op, to_params=to_params):
                args = (level[index, slot], sign[index, slot], draw[index, slot])
                return op.apply(subset, None, to_params(op, subset, *args))[0]

            out = _where_chosen(out, applied[:, slot] & (kind[:, slot] == k), run)
    return out


def _check_magnitude_std(value: Any) -> float:
    if value == math.inf:
        return math.inf
    return number(value, "magnitude_std", low=0, note="timm's 0..10 levels, or inf: levels ~ U(0, level)")


def _check_fill(fill: Any) -> tuple[float, ...]:
    values = fill if isinstance(fill, (list, tuple)) else [fill]
    if len(values) not in (1, 3):
        raise ValueError(f"fill must be a fraction of the value range or 3 of them (per channel), got {fill!r}")
    return tuple(number(v, "fill", low=0, high=1, note="a fraction of the value range") for v in values)


class AutoAugment(Augmentation):
    """Per-sample AutoAugment on a batch: a sub-policy per image, each op with its probability and level.

    Args:
        policy: ``"original"``, ``"originalr"``, ``"v0"``, ``"v0r"`` or ``"3a"`` (timm's names).
        magnitude_std: noise on each op's level (timm's 0..10 scale); ``inf`` draws ``U(0, level)``.
        interpolation: of the geometric ops (``"bilinear"`` or ``"nearest"``).
        fill: uncovered pixels, a fraction of the value range (or 3, per channel; timm's grey 128 by default).
        backend: ``"batch"`` or ``"image"``: the same draw for one ``H x W x C`` uint8 image (from a NumPy
            ``Generator``), run by the batch form's ops on it as a batch of one, so both share every op's
            arithmetic; params as the batch's, without the batch dimension.

    Shape:
        images ``[B, C, H, W]`` uint8 or float -> same. params: ``policy`` ``[B]`` int64 (the sub-policy),
        ``applied`` ``[B, S]`` bool, ``level`` ``[B, S]`` float32 (0..10), ``sign`` ``[B, S]`` float32 (+-1),
        ``draw`` ``[B, S]`` float32 in [0, 1) (the blur's radius), S the ops per sub-policy.

    Example:
        >>> aug = AutoAugment("original")
        >>> x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> aug.last_params["applied"].shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        policy: str = "original",
        magnitude_std: float = 0.0,
        interpolation: str = "bilinear",
        fill: float | Sequence[float] = 128 / 255,
        *,
        backend: str = "batch",
    ):
        super().__init__(backend)
        self.policy = choice(policy, "policy", tuple(POLICIES))
        self.magnitude_std = _check_magnitude_std(magnitude_std)
        self.interpolation = choice(interpolation, "interpolation", ("bilinear", "nearest"))
        self.fill = _check_fill(fill)
        table = POLICIES[self.policy]
        self.kinds = tuple(sorted({name for sub in table for name, _, _ in sub}))
        slots = max(len(sub) for sub in table)
        self._kind = torch.tensor([[self.kinds.index(op[0]) for op in sub] for sub in table]).view(len(table), slots)
        self._prob = torch.tensor([[op[1] for op in sub] for sub in table], dtype=torch.float32)
        self._level = torch.tensor([[float(op[2]) for op in sub] for sub in table], dtype=torch.float32)
        self._signed = torch.tensor([LEVEL_TO_PARAMS[name][2] for name in self.kinds])
        self._slot_kinds = [sorted({self.kinds.index(sub[slot][0]) for sub in table}) for slot in range(slots)]
        self._ops = build_level_ops(self.kinds, self.interpolation, self.fill)

    def sample_params(self, images, generator=None):
        batch, device = images.shape[0], images.device
        where = generator.device if generator is not None else device
        policy = torch.randint(len(self._kind), (batch,), generator=generator, device=where)
        kind = self._kind.to(where)[policy]
        slots = kind.shape[1]
        applied = torch.rand((batch, slots), generator=generator, device=where) < self._prob.to(where)[policy]
        level = self._level.to(where)[policy]
        if self.magnitude_std == math.inf:
            level = level * torch.rand((batch, slots), generator=generator, device=where)
        elif self.magnitude_std > 0:
            level = level + self.magnitude_std * torch.randn((batch, slots), generator=generator, device=where)
        level = level.clamp(0.0, MAX_LEVEL)
        coin = torch.rand((batch, slots), generator=generator, device=where) < 0.5
        sign = torch.where(coin & self._signed.to(where)[kind], -1.0, 1.0)
        draw = torch.rand((batch, slots), generator=generator, device=where)
        params = {"policy": policy, "applied": applied, "level": level, "sign": sign, "draw": draw}
        return {key: value.to(device) for key, value in params.items()}

    def apply(self, images, targets, params):
        policy, applied = params["policy"].long(), params["applied"].to(torch.bool)
        level, sign, draw = params["level"], params["sign"], params["draw"]
        if policy.ndim != 1 or applied.shape != (len(policy), self._kind.shape[1]) or len(policy) != len(images):
            raise ValueError(
                f"params 'policy' must be [B] and 'applied', 'level', 'sign', 'draw' [B, {self._kind.shape[1]}] "
                f"with B={len(images)}, got {tuple(policy.shape)} and {tuple(applied.shape)}"
            )
        kind = self._kind.to(images.device)[policy]
        chain = (kind, applied, level, sign, draw)
        out = run_level_ops(images, self._ops, self.kinds, chain, self._slot_kinds)
        return images.clone() if out is images else out, targets

    def sample_params_image(self, img, rng):
        policy = int(rng.integers(len(self._kind)))
        kind = self._kind[policy].numpy()
        slots = len(kind)
        applied = rng.random(slots) < self._prob[policy].numpy()
        level = self._level[policy].numpy().astype(np.float64)
        if self.magnitude_std == math.inf:
            level = level * rng.random(slots)
        elif self.magnitude_std > 0:
            level = level + self.magnitude_std * rng.standard_normal(slots)
        signed = self._signed.numpy()[kind]
        sign = np.where((rng.random(slots) < 0.5) & signed, -1.0, 1.0).astype(np.float32)
        draw = rng.random(slots).astype(np.float32)
        level = np.clip(level, 0.0, MAX_LEVEL).astype(np.float32)
        return {"policy": policy, "applied": applied, "level": level, "sign": sign, "draw": draw}

    def apply_image(self, img, params):
        batch = {key: torch.as_tensor(np.asarray(params[key]))[None] for key in ("applied", "level", "sign", "draw")}
        out, _ = AutoAugment.apply(
            self, image_as_batch(img), None, {"policy": torch.tensor([int(params["policy"])]), **batch}
        )
        return batch_as_image(out, img)


AutoAugmentImage = image_backend(AutoAugment)

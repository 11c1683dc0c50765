"""RandAugment and TrivialAugment on a whole batch on an accelerator, uint8 or float (on the CPU, uint8 takes
:mod:`.lut_chain` and float runs each op on the samples that drew it). Two forms, neither with a host-device sync,
a loop over samples or a loop over the op set:

- **fused** (CUDA with Triton; uint8, float32, float64; :mod:`effl_plugins.augment.kernels.rand_augment`): two
  kernel launches whatever N is: one program per sample runs its colour ops in slot order and composes and
  inverts its geometry, then one warp kernel warps the batch.
- **torch** (any other accelerator or dtype, and the reference of the fused form): every sample's parameters for
  every slot in a few elementwise ops (:func:`_slot_params`); per slot, in slot order since the statistics ops read
  the current image, one pass for the statistics (grey mean, channel ranges, histograms), then the point ops by
  the ops' own kernels, each the identity bit for bit where not drawn (uint8: on one ``[B, C, 256]`` table per
  sample, applied in one gather; float: on the pixels), then color and sharpness as blends with per-sample weights
  (0 where not drawn); then ONE warp by every sample's composed geometry. The tensor ops are a constant plus a
  constant per slot (counted with ``torch.profiler`` in the tests).

Both equal the op-by-op reference bit for bit on uint8 and to float rounding on float images.

Shape:
    images ``[B, C, H, W]`` uint8 or float; ops ``[B, N]`` int64; magnitude, sign ``[B, N]`` float32.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..._triton import triton_available, use_triton
from ..auto_contrast import channel_ranges, stretch
from ..contrast import mean_grey
from ..equalize import to_uint8
from ..functional import matrices
from ..functional.enhance import blend, luma
from ..functional.histogram import equalize_luts
from ..functional.lut import truncate_to_uint8
from ..kernels.affine import fill_tensor
from ..kernels.lut import apply_lut
from ..kernels.rand_augment import SUPPORTED_DTYPES, fused_constants, rand_augment_fused
from ..kernels.warp import warp_affine_fused
from ..posterize import posterize
from ..sharpness import SMOOTH, sharpen, smoothed
from ..solarize import solarize
from .magnitude import LEVEL_TO_ARG, RAND_AUGMENT_SPACE, WIDE_SPACE, MagnitudeSpace, bin_value

__all__ = [
    "MagnitudeSpace",
    "RAND_AUGMENT_SPACE",
    "WIDE_SPACE",
    "BIN_LEVELS",
    "composed_geometry",
    "draw_codes",
    "rand_augment_batch",
]

_SHEAR_CORNER = -0.5
_WARPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
_ENHANCE = ("brightness", "color", "contrast", "sharpness")


_KINDS = ("brightness", "color", "contrast", "sharpness", "posterize", "solarize", "auto_contrast", "equalize", *_WARPS)


def _translate_ends(space: MagnitudeSpace, height: int, width: int) -> list[float]:
    """translate's largest shift in x and y, pixels: RandAugment's fraction of the image size, or the space's."""
    fraction = LEVEL_TO_ARG["translate_x"].top
    return [fraction * width, fraction * height] if space.translate is None else [space.translate] * 2


@functools.lru_cache(maxsize=64)
def _fused_constants(
    op_names: tuple[str, ...],
    space: MagnitudeSpace,
    device: torch.device,
    channels: int,
    height: int,
    width: int,
    dtype: torch.dtype,
    fill,
) -> dict:
    """The fused kernels' tables of one configuration, made once per device."""
    fill = fill_tensor(fill, torch.empty((1, channels, 1, 1), dtype=dtype, device=device))
    return fused_constants(
        op_names, space, _translate_ends(space, height, width), channels, height, width, fill, device
    )


@functools.lru_cache(maxsize=64)
def _constants(
    op_names: tuple[str, ...],
    space: MagnitudeSpace,
    device: torch.device,
    height: int,
    width: int,
    dtype: torch.dtype,
    fill,
) -> dict:
    """The per-op tables and fixed tensors of one configuration, made once per device."""

    def per_op(values: dict[str, float], kind=torch.float32):
        return torch.tensor([values.get(name, 0.0) for name in op_names], dtype=kind, device=device)

    ends = _translate_ends(space, height, width)
    kinds = torch.tensor([op_names.index(kind) if kind in op_names else -1 for kind in _KINDS], device=device)
    compute = torch.float32 if dtype == torch.uint8 else dtype
    inner = (
        F.pad(torch.ones(1, height - 2, width - 2, dtype=compute, device=device), (1, 1, 1, 1))
        if height > 2 and width > 2
        else None
    )
    return {
        "top": per_op(
            {"rotate": space.rotate, "shear_x": space.shear, "shear_y": space.shear, "posterize": space.posterize},
            space.amount_dtype,
        ),
        "signed": per_op({name: 1.0 for name in (*_WARPS, *_ENHANCE)}) > 0,
        "geometric": per_op({name: 1.0 for name in _WARPS}) > 0,
        # torchvision's linspace(start, end, 31) of the ops read at bin M: solarize's threshold, translate's shift
        "start": per_op({"solarize": LEVEL_TO_ARG["solarize"].start}),
        "end": per_op({"translate_x": ends[0], "translate_y": ends[1]}),
        "kinds": kinds,
        "warp_kinds": kinds[-len(_WARPS) :],  # _KINDS ends with _WARPS
        "zero": torch.zeros((), device=device),
        "centre": torch.tensor([[(width - 1) / 2, (height - 1) / 2], [_SHEAR_CORNER, _SHEAR_CORNER]], device=device),
        "ramp": torch.arange(256, dtype=torch.float32, device=device).view(1, 1, 1, 256),
        "smooth": torch.tensor(SMOOTH, dtype=compute, device=device).view(1, 1, 3, 3),
        "inner": inner,
        "fill": torch.tensor(
            list(fill) if isinstance(fill, (list, tuple)) else [fill], dtype=torch.float32, device=device
        ),
    }


def _slot_params(const: dict, space: MagnitudeSpace, ops, magnitude, sign) -> dict:
    """Every sample's parameters for every slot, ``[B, N]`` each; neutral values where the op was not drawn."""
    dtype = space.amount_dtype
    amount = (torch.where(const["signed"][ops], sign, 1.0).to(dtype) * const["top"][ops]) * magnitude.to(dtype)
    factor = (1.0 + (sign.double() * space.enhance) * magnitude.double()).float()
    named = dict(zip(_KINDS, (ops.unsqueeze(-1) == const["kinds"]).unbind(-1)))
    binned = bin_value(const["start"][ops], const["end"][ops], magnitude)  # one evaluation serves both ops
    shift = sign * torch.trunc(binned)
    return {
        "factor_point": torch.where(named["brightness"] | named["contrast"], factor, 1.0),
        "contrast": named["contrast"],
        "factor_color": torch.where(named["color"], factor, 1.0),
        "factor_sharp": torch.where(named["sharpness"], factor, 1.0),
        "bits": torch.where(named["posterize"], 8 - torch.round(amount).long(), 8),
        "threshold": torch.where(named["solarize"], binned, 2.0),
        "auto_contrast": named["auto_contrast"],
        "equalize": named["equalize"],
        "angle": torch.where(named["rotate"], amount.float(), 0.0),
        "shear": torch.stack(
            [torch.where(named["shear_x"], amount.float(), 0.0), torch.where(named["shear_y"], amount.float(), 0.0)], -1
        ),
        "sheared": named["shear_x"] | named["shear_y"],
        "shift": torch.stack(
            [torch.where(named["translate_x"], shift, 0.0), torch.where(named["translate_y"], shift, 0.0)], -1
        ),
    }


def _geometry_params(const: dict, space: MagnitudeSpace, ops, magnitude, sign) -> dict:
    """The geometric entries of :func:`_slot_params` only (the same expressions, so the same values)."""
    dtype = space.amount_dtype
    amount = (torch.where(const["signed"][ops], sign, 1.0).to(dtype) * const["top"][ops]) * magnitude.to(dtype)
    named = dict(zip(_WARPS, (ops.unsqueeze(-1) == const["warp_kinds"]).unbind(-1)))
    binned = bin_value(const["start"][ops], const["end"][ops], magnitude)
    shift = sign * torch.trunc(binned)
    amount = amount.float()
    zero = const["zero"]
    return {
        "angle": torch.where(named["rotate"], amount, zero),
        "shear": torch.stack(
            [torch.where(named["shear_x"], amount, zero), torch.where(named["shear_y"], amount, zero)], -1
        ),
        "sheared": named["shear_x"] | named["shear_y"],
        "shift": torch.stack(
            [torch.where(named["translate_x"], shift, zero), torch.where(named["translate_y"], shift, zero)], -1
        ),
    }


def _geometry(const: dict, params: dict) -> torch.Tensor:
    """Each sample's slot matrices composed in slot order: ``[B, 3, 3]`` forward maps. A slot's matrix is its
    rotation about the centre or its shear about the corner, plus its shift: the drawn op's own matrix bit for bit.
    """
    batch, slots = params["angle"].shape
    sheared = params["sheared"].reshape(-1)
    shear = params["shear"].reshape(-1, 2)
    linear = torch.where(
        sheared[:, None, None], matrices.shear(shear[:, 0], shear[:, 1]), matrices.rotation(params["angle"].reshape(-1))
    )
    centre = const["centre"][sheared.long()]
    steps = matrices.about(linear, centre[:, 0], centre[:, 1]) + F.pad(params["shift"].reshape(-1, 2, 1), (2, 0, 0, 1))
    return _composed(steps.view(batch, slots, 3, 3))


def _composed(steps: torch.Tensor) -> torch.Tensor:
    """``[B, N, 3, 3]`` slot matrices composed in slot order: ``[B, 3, 3]``."""
    total = steps[:, 0]
    for slot in range(1, steps.shape[1]):
        total = steps[:, slot] @ total
    return total


_BINS = 31


@functools.lru_cache(maxsize=64)
def _step_table(
    op_names: tuple[str, ...], space: MagnitudeSpace, device: torch.device, height: int, width: int, dtype: torch.dtype
) -> torch.Tensor:
    """Every op's slot matrix at every integer magnitude bin and both signs, ``[K * 31 * 2, 3, 3]`` (rows as
    :func:`draw_codes`), made by :func:`_geometry_params` and :func:`_geometry` themselves: their arithmetic is
    elementwise, so a row is bit for bit the matrix they give that draw inside any batch."""
    const = _constants(op_names, space, device, height, width, dtype, 0)
    count = len(op_names)
    ops = torch.arange(count, device=device).repeat_interleave(_BINS * 2)
    magnitude = BIN_LEVELS.to(device).repeat_interleave(2).repeat(count)
    sign = torch.tensor([-1.0, 1.0], device=device).repeat(count * _BINS)
    steps = _geometry(const, _geometry_params(const, space, ops[:, None], magnitude[:, None], sign[:, None]))
    return steps.contiguous()


#: the float32 magnitudes ``bin / 30`` of the 31 integer bins, as RandAugment and TrivialAugment sample them
BIN_LEVELS = torch.arange(_BINS, dtype=torch.float32) / (_BINS - 1)


def draw_codes(ops: torch.Tensor, magnitude: torch.Tensor, sign: torch.Tensor) -> torch.Tensor | None:
    """``(op * 31 + bin) * 2 + (sign > 0)`` per draw, ``[B, N]`` int64, when every magnitude (float32) is one of
    :data:`BIN_LEVELS` and every sign +-1 (RandAugment at an integer M without noise, TrivialAugment); else None.
    The row of a draw in the tables made per op set (:func:`_step_table`, the LUT chain's point-op tables)."""
    levels = BIN_LEVELS if magnitude.device.type == "cpu" else BIN_LEVELS.to(magnitude.device)
    bins = (magnitude * (_BINS - 1)).round_().long().clamp_(0, _BINS - 1)  # NaN and inf land inside, then fail
    if not bool(((levels[bins] == magnitude) & (sign.abs() == 1)).all()):  # NaN fails it
        return None
    return (ops * _BINS + bins) * 2 + (sign > 0).long()


def _tabled_geometry(table: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """:func:`_geometry` by :func:`_step_table` rows (:func:`draw_codes`)."""
    return _composed(table[codes])


def composed_geometry(
    images: torch.Tensor,
    ops: torch.Tensor,
    magnitude: torch.Tensor,
    sign: torch.Tensor,
    op_names: Sequence[str],
    space: MagnitudeSpace = RAND_AUGMENT_SPACE,
    codes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Each sample's geometric ops composed in slot order, ``[B, 3, 3]`` forward maps (identity without any), read
    from :func:`_step_table` at integer magnitude bins when ``codes`` are given or the images are on the CPU.

    Shape:
        images ``[B, C, H, W]`` (its size and device are read); ops, magnitude, sign ``[B, N]``; codes: the draws'
        :func:`draw_codes` when the caller has them.
    """
    height, width = images.shape[-2:]
    names = tuple(op_names)
    magnitude, sign = magnitude.to(torch.float32), sign.to(torch.float32)
    if ops.shape[1]:
        if codes is None and images.device.type == "cpu":  # the check reads a flag back: not on an accelerator
            codes = draw_codes(ops, magnitude, sign)
        if codes is not None:
            return _tabled_geometry(_step_table(names, space, images.device, height, width, images.dtype), codes)
    const = _constants(names, space, images.device, height, width, images.dtype, 0)
    return _geometry(const, _geometry_params(const, space, ops, magnitude, sign))


def _slot_uint8(images, p, ramp):
    """One slot on uint8 images: the point ops on each sample's ``[C, 256]`` table, one lookup, then color and
    sharpness."""
    grey = luma(images)
    mean = mean_grey(images, grey)
    low, high = channel_ranges(images)
    table = truncate_to_uint8(blend(ramp, mean * p["contrast"], p["factor_point"]))
    table = posterize(stretch(table, low, high, p["auto_contrast"]), p["bits"])
    table = solarize(table, p["threshold"], p["solarize"])
    table = torch.where(p["equalize"], equalize_luts(images).unsqueeze(2), table).squeeze(2)
    values = apply_lut(images, table).to(torch.float32)
    if images.shape[1] == 3:
        values = blend(values, grey, p["factor_color"])
    if "alpha_sharp" in p:
        values = sharpen(values, F.pad(smoothed(images.to(torch.float32), True), (1, 1, 1, 1)), p["alpha_sharp"])
    return truncate_to_uint8(values)


def _slot_float(images, p, kernel):
    """:func:`_slot_uint8` on float images: each point op on the pixels (``kernel``: sharpness's smoothing)."""
    grey = luma(images)
    mean = mean_grey(images, grey)
    low, high = channel_ranges(images)
    values = blend(images, mean * p["contrast"], p["factor_point"]).clamp_(0, 1)
    values = solarize(
        posterize(stretch(values, low, high, p["auto_contrast"]), p["bits"]), p["threshold"], p["solarize"]
    )
    quantized = to_uint8(images)
    values = torch.where(p["equalize"], apply_lut(quantized, equalize_luts(quantized)).to(images.dtype) / 255, values)
    if images.shape[1] == 3:
        values = blend(values, grey, p["factor_color"]).clamp_(0, 1)
    if "alpha_sharp" in p:
        values = sharpen(values, F.pad(smoothed(images, False, kernel), (1, 1, 1, 1)), p["alpha_sharp"]).clamp_(0, 1)
    return values


def _per_slot(const: dict, params: dict, images: torch.Tensor) -> list[dict]:
    """The colour parameters of each slot, in the shapes and dtypes the slot kernels use (``alpha_sharp``
    ``[B, 1, H, W]``, 0 on the border)."""
    batch, _, height, width = images.shape
    compute = torch.float32 if images.dtype == torch.uint8 else images.dtype
    slots = params["bits"].shape[1]

    def split(value, shape=(1, 1, 1)):
        return value.transpose(0, 1).reshape(slots, batch, *shape).unbind(0)

    columns = {
        "factor_point": split(params["factor_point"].to(compute)),
        "contrast": split(params["contrast"].to(compute)),
        "factor_color": split(params["factor_color"].to(compute)),
        "auto_contrast": split(params["auto_contrast"]),
        "bits": split(params["bits"]),
        "threshold": split(params["threshold"]),
        "solarize": split(params["threshold"] <= 1),
        "equalize": split(params["equalize"]),
    }
    if const["inner"] is not None:
        columns["alpha_sharp"] = split(
            (1 - params["factor_sharp"].to(compute)).unsqueeze(-1).unsqueeze(-1) * const["inner"], (1, height, width)
        )
    return [{key: values[slot] for key, values in columns.items()} for slot in range(slots)]


def _fused(images: torch.Tensor, backend: str) -> bool:
    """Whether :func:`rand_augment_batch` runs the fused kernels for these images."""
    fits = images.dtype in SUPPORTED_DTYPES and images.shape[1] in (1, 3)
    if backend == "auto":
        return images.is_cuda and fits and triton_available()
    if use_triton(images, backend) and not fits:
        raise ValueError(
            f"the fused kernels take {[str(d) for d in SUPPORTED_DTYPES]} images with 1 or 3 channels, got "
            f"{images.dtype} with {images.shape[1]} channels; use backend='torch' or 'auto'"
        )
    return backend == "triton"


def rand_augment_batch(
    images: torch.Tensor,
    ops: torch.Tensor,
    magnitude: torch.Tensor,
    sign: torch.Tensor,
    op_names: Sequence[str],
    space: MagnitudeSpace = RAND_AUGMENT_SPACE,
    interpolation: str = "nearest",
    fill=0,
    backend: str = "auto",
) -> torch.Tensor:
    """Each sample's ``N`` ops (colour ops in slot order, then one warp of the composed geometry), on any device.

    Args:
        images: ``[B, C, H, W]`` uint8 or float (float values in [0, 1]); not modified.
        ops: ``[B, N]`` indices into ``op_names``; magnitude ``[B, N]`` in [0, 1] (M / 30); sign ``[B, N]`` of +-1.
        op_names: the op set (names from :data:`effl_plugins.augment.auto.op_space.RAND_AUGMENT_OPS`).
        space: the ranges (RandAugment's or TrivialAugment's wide ones).
        interpolation, fill: of the warp.
        backend: ``"auto"`` (the fused kernels for CUDA images when Triton imports, torch otherwise), ``"triton"``
            (the fused kernels; CPU images need ``TRITON_INTERPRET=1``) or ``"torch"``.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, H, W]``, same dtype and device.
    """
    batch, channels, height, width = images.shape
    if batch == 0 or ops.shape[1] == 0:
        return images.clone()
    if _fused(images, backend):
        const = _fused_constants(tuple(op_names), space, images.device, channels, height, width, images.dtype, fill)
        return rand_augment_fused(images, ops, magnitude, sign, space, interpolation, const)
    const = _constants(tuple(op_names), space, images.device, height, width, images.dtype, fill)
    params = _slot_params(const, space, ops, magnitude, sign)
    out = images
    for p in _per_slot(const, params, images):
        if images.dtype == torch.uint8:
            out = _slot_uint8(out, p, const["ramp"])
        else:
            out = _slot_float(out, p, const["smooth"])
    warped = warp_affine_fused(out, _geometry(const, params), interpolation, const["fill"])
    # the identity warps a sample onto itself, but the bilinear blend runs in float32:
    # float64 samples without geometry are kept as they are
    if images.dtype != torch.float64:
        return warped
    return torch.where(const["geometric"][ops].any(1).view(-1, 1, 1, 1), warped, out)

"""Batch RandAugment / TrivialAugment in two Triton launches, whatever N and the op set.

The CUDA form of :func:`effl_plugins.augment.auto.device_path.rand_augment_batch`. ``chain_kernel`` runs one
program per sample: the sample's parameters for every slot, its colour ops in slot order (each statistic a pass
over that sample alone), its geometric ops composed into one matrix and inverted. ``warp_kernel`` then warps the
whole batch once. The rotations' cosines and sines are computed by torch, so that they equal the reference's.

Shape:
    images ``[B, C, H, W]`` uint8, float32 or float64 with C of 1 or 3; ops ``[B, N]`` int64; magnitude and
    sign ``[B, N]`` float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..equalize import EQUALIZE_SCALE
from ..functional.enhance import LUMA_WEIGHTS

__all__ = ["KIND_CODES", "SUPPORTED_DTYPES", "fused_constants", "rand_augment_fused"]

#: the kernel's code of every op of RandAugment's op space (:mod:`._rand_augment_triton`)
KIND_CODES = {
    "identity": 0,
    "brightness": 1,
    "contrast": 2,
    "color": 3,
    "sharpness": 4,
    "posterize": 5,
    "solarize": 6,
    "auto_contrast": 7,
    "equalize": 8,
    "rotate": 9,
    "shear_x": 10,
    "shear_y": 11,
    "translate_x": 12,
    "translate_y": 13,
}
#: image dtypes the kernels take; other float dtypes run the torch form of the device path
SUPPORTED_DTYPES = (torch.uint8, torch.float32, torch.float64)
_CHAIN_BLOCK = 1024  # pixels per step of a sample's program
_WARP_BLOCK = 256  # output pixels per warp program


def fused_constants(
    op_names: Sequence[str],
    space,
    ends: Sequence[float],
    channels: int,
    height: int,
    width: int,
    fill: torch.Tensor,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """The kernels' per-configuration tensors (made once per device and configuration by the caller's cache).

    Args:
        op_names: the op set; space: its :class:`~effl_plugins.augment.auto.magnitude.MagnitudeSpace`;
        ends: translate's largest shift in x and y, pixels; channels, height, width: of the images;
        fill: the warp's fill (one value or one per channel) in the images' dtype.
    """
    compute = torch.float32 if fill.dtype == torch.uint8 else fill.dtype
    space_values = [space.enhance, space.rotate, space.shear, space.posterize, *ends, (width - 1) / 2, (height - 1) / 2]
    return {
        "codes": torch.tensor([KIND_CODES[name] for name in op_names], dtype=torch.int32, device=device),
        "space": torch.tensor(space_values, dtype=torch.float64, device=device),
        "weights": torch.tensor([*LUMA_WEIGHTS, EQUALIZE_SCALE], dtype=compute, device=device),
        "fill": fill.to(device).reshape(-1).expand(channels).contiguous(),
    }


def _launch(name: str, kernel, grid, *args, **kwargs) -> None:
    """One kernel launch, named for the profiler (``triton::NAME``: one launch on the device)."""
    with torch.profiler.record_function(f"triton::{name}"):
        kernel[grid](*args, **kwargs, enable_fp_fusion=False)


def rand_augment_fused(
    images: torch.Tensor,
    ops: torch.Tensor,
    magnitude: torch.Tensor,
    sign: torch.Tensor,
    space,
    interpolation: str,
    constants: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Each sample's ``N`` ops, colour ops in slot order then one warp of the composed geometry, in two launches.

    Args:
        images: ``[B, C, H, W]`` uint8, float32 or float64 (float values in [0, 1]), C in {1, 3}; not modified.
        ops, magnitude, sign: ``[B, N]`` int64, float32, float32 (as ``rand_augment_batch`` takes them).
        space: the ops' ranges; interpolation: of the warp; constants: :func:`fused_constants`.

    Shape:
        ``[B, C, H, W]`` -> ``[B, C, H, W]``, same dtype and device.
    """
    from . import _rand_augment_triton as kernels
    from ._triton_kernels import warp_kernel

    batch, channels, height, width = images.shape
    images, ops = images.contiguous(), ops.contiguous()
    magnitude, sign = (
        v.contiguous() if v.dtype == torch.float32 else v.float().contiguous() for v in (magnitude, sign)
    )
    if space.amount_dtype == torch.float64:
        angle = ((sign.double() * space.rotate) * magnitude.double()).float()
    else:
        angle = (sign * space.rotate) * magnitude
    radians = torch.deg2rad(angle)
    cos, sin = torch.cos(radians), torch.sin(radians)
    work, spare, out = torch.empty_like(images), torch.empty_like(images), torch.empty_like(images)
    tables = torch.empty((batch, channels, 256), dtype=torch.int32, device=images.device)
    inverse = torch.empty((batch, 7), dtype=torch.float32, device=images.device)
    is_uint8, is_float64 = images.dtype == torch.uint8, images.dtype == torch.float64
    _launch(
        "rand_augment_chain",
        kernels.chain_kernel,
        (batch,),
        images,
        work,
        spare,
        tables,
        ops,
        magnitude,
        sign,
        cos,
        sin,
        constants["codes"],
        constants["space"],
        constants["weights"],
        inverse,
        channels,
        height,
        width,
        ops.shape[1],
        IS_UINT8=is_uint8,
        IS_FLOAT64=is_float64,
        AMOUNT64=space.amount_dtype == torch.float64,
        C3=channels == 3,
        BLOCK=_CHAIN_BLOCK,
    )
    _launch(
        "rand_augment_warp",
        warp_kernel,
        (batch, -(-height * width // _WARP_BLOCK)),
        work,
        inverse,
        constants["fill"],
        out,
        channels,
        height,
        width,
        height,
        width,
        FLAGGED=True,
        BILINEAR=interpolation == "bilinear",
        IS_UINT8=is_uint8,
        BLOCK=_WARP_BLOCK,
    )
    return out

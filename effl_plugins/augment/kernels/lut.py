"""A per-sample chain of uint8 point ops (``BatchAugmentation.point_op``) as one ``[B, C, 256]`` table, applied
in one gather: a chain composes as ``lut_{g after f}[v] = lut_g[lut_f[v]]``, and an op's table is the op run on the
ramp ``0..255`` (:func:`point_op_lut`)."""

from __future__ import annotations

from typing import Any

import torch

from ..._triton import use_triton

__all__ = ["apply_lut", "compose_luts", "identity_luts", "point_op_lut"]


def _check_luts(images: torch.Tensor, luts: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a uint8 tensor [B, C, H, W], got {getattr(images, 'dtype', '')} {shape}")
    batch, channels = images.shape[:2]
    if not isinstance(luts, torch.Tensor) or luts.dtype != torch.uint8 or luts.ndim != 3 or luts.shape[2] != 256:
        shape = tuple(luts.shape) if isinstance(luts, torch.Tensor) else type(luts).__name__
        raise ValueError(
            "luts must be a uint8 tensor [B, C, 256] (or broadcastable to it), got "
            f"{getattr(luts, 'dtype', '')} {shape}"
        )
    if luts.shape[0] not in (1, batch) or luts.shape[1] not in (1, channels):
        raise ValueError(f"luts of shape {tuple(luts.shape)} do not broadcast to [B={batch}, C={channels}, 256]")
    return luts.to(images.device).expand(batch, channels, 256)


def identity_luts(batch: int, channels: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[B, C, 256]`` uint8 tables that map every value to itself."""
    return torch.arange(256, dtype=torch.uint8, device=device).expand(batch, channels, 256).contiguous()


def compose_luts(first: torch.Tensor, then: torch.Tensor) -> torch.Tensor:
    """The table of ``then`` applied after ``first``: ``out[b, c, v] = then[b, c, first[b, c, v]]``. Shape: ``[B, C,
    256]`` twice -> ``[B, C, 256]``."""
    batch, channels = max(first.shape[0], then.shape[0]), max(first.shape[1], then.shape[1])
    return torch.gather(then.expand(batch, channels, 256), 2, first.expand(batch, channels, 256).long())


def point_op_lut(
    op: Any, params: dict[str, torch.Tensor], batch: int, channels: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The ``[B, C, 256]`` table of a pointwise batch augmentation for given ``params`` (e.g. ``op.last_params``).

    Runs ``op.apply`` on the ramp image ``[B, C, 1, 256]``; valid only for ops whose output pixel
    depends on that pixel's value and the params alone.

    Example:
        >>> import effl_plugins as ep
        >>> aug = ep.create_augmentation("brightness")
        >>> x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
        >>> y, _ = aug(x, generator=torch.Generator().manual_seed(0))
        >>> torch.equal(apply_lut(x, point_op_lut(aug, aug.last_params, 2, 3)), y)
        True
    """
    ramp = identity_luts(batch, channels, device).view(batch, channels, 1, 256)
    out, _ = op.apply(ramp, None, params)
    return out.reshape(batch, channels, 256)


#: the plane size from which the CPU translates planes with StringZilla (below: the gather)
_TRANSLATE_PIXELS = 32 * 32


def apply_lut(images: torch.Tensor, luts: torch.Tensor, *, backend: str = "auto") -> torch.Tensor:
    """Map every pixel through its sample's and channel's table, in one pass.

    Args:
        images: ``[B, C, H, W]`` uint8, any device; not modified.
        luts: ``[B, C, 256]`` uint8 (a leading or channel dim of 1 broadcasts).
        backend: ``"auto"`` (Triton for CUDA tensors when available), ``"triton"`` or ``"torch"``.

    Shape:
        ``[B, C, H, W]`` uint8 -> ``[B, C, H, W]`` uint8.
    """
    luts = _check_luts(images, luts)
    batch, channels, height, width = images.shape
    if not use_triton(images, backend):
        if images.device.type == "cpu" and height * width >= _TRANSLATE_PIXELS:
            return _translate_on_cpu(images, luts)
        index = images.reshape(batch, channels, -1).long()
        return torch.gather(luts, 2, index).view_as(images)
    from . import _triton_kernels as kernels

    source, out = images.contiguous(), torch.empty_like(images, memory_format=torch.contiguous_format)
    pixels, block = height * width, 1024
    kernels.lut_kernel[(batch * channels, -(-pixels // block))](source, luts.contiguous(), out, pixels, BLOCK=block)
    return out


def _translate_on_cpu(images: torch.Tensor, luts: torch.Tensor) -> torch.Tensor:
    """The CPU form: each (sample, channel) plane looked up in its table by
    :func:`.sample_tables.translate_samples`, in one pass into a new tensor."""
    from .sample_tables import translate_samples

    batch, channels = images.shape[:2]
    if channels > 1 and luts.stride(1) == 0:  # one table for all channels (broadcast): one run per sample
        samples = images.contiguous().view(batch, -1)
        return translate_samples(samples, luts[:, 0]).view(images.shape)
    planes = images.contiguous().view(batch * channels, -1)
    return translate_samples(planes, luts.reshape(batch * channels, 256)).view(images.shape)

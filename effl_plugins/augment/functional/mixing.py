"""What the mixing ops compute: λ ~ Beta(α, α) draws, and soft class targets (int class ids ``[B]`` or soft
``[B, K]`` in, ``[B, K]`` out) mixed with a partner's.

Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture") spreads
``smoothing`` evenly over the K classes: on-value ``1 - smoothing + smoothing / K``, off-value
``smoothing / K`` (the convention of ``timm.data.mixup.mixup_target``).
"""

from __future__ import annotations

from typing import Any

import torch

from ..._validate import fraction, integer

__all__ = ["check_num_classes", "check_smoothing", "sample_beta", "to_soft_targets", "mix_targets"]


def check_num_classes(num_classes: Any) -> int | None:
    return integer(num_classes, "num_classes", low=1, optional=True, note="None: soft [B, K] targets")


def check_smoothing(smoothing: Any) -> float:
    return fraction(smoothing, "label_smoothing", below_one=True)


def sample_beta(count: int, alpha: float, device, generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` float64 draws of Beta(α, α) on the generator's device, moved to ``device``."""
    where = generator.device if generator is not None else torch.device(device)
    concentration = torch.full((count, 2), alpha, dtype=torch.float64, device=where)
    return torch._sample_dirichlet(concentration, generator=generator)[:, 0].to(device)


def to_soft_targets(
    targets: Any, batch: int, num_classes: int | None, smoothing: float = 0.0, dtype=torch.float32
) -> torch.Tensor:
    """Int ids ``[B]`` -> smoothed one-hot ``[B, K]``; soft ``[B, K]`` -> smoothed copy (float ``dtype``).

    Shape:
        targets ``[B]`` integer (needs ``num_classes``) or ``[B, K]`` floating -> ``[B, K]``.
    """
    if targets is None:
        raise ValueError("targets are required by mixing ops (int class ids [B] or soft targets [B, K]), got None")
    if not isinstance(targets, torch.Tensor):
        raise TypeError(
            f"targets must be a torch.Tensor of int class ids [B] or soft targets [B, K], got {type(targets).__name__}"
        )
    if targets.ndim == 0 or targets.shape[0] != batch:
        raise ValueError(
            f"targets must have one entry per image: the batch has {batch} images, got targets of shape "
            f"{tuple(targets.shape)}"
        )
    if targets.ndim == 1:
        if targets.dtype.is_floating_point or targets.dtype == torch.bool:
            raise TypeError(f"1-D targets must be integer class ids, got dtype {targets.dtype}")
        if num_classes is None:
            raise ValueError("num_classes is required to turn int class ids [B] into soft targets; pass num_classes=K")
        if batch and targets.device.type == "cpu" and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
            raise ValueError(
                f"targets must be class ids in [0, {num_classes}), got values in [{int(targets.min())}, "
                f"{int(targets.max())}]"
            )
        off = smoothing / num_classes
        soft = torch.full((batch, num_classes), off, dtype=dtype, device=targets.device)
        return soft.scatter_(1, targets.long()[:, None], 1.0 - smoothing + off)
    if targets.ndim != 2 or not targets.dtype.is_floating_point:
        raise ValueError(
            f"soft targets must be floating [B, K], got shape {tuple(targets.shape)} dtype {targets.dtype}"
        )
    if num_classes is not None and targets.shape[1] != num_classes:
        raise ValueError(f"soft targets have {targets.shape[1]} classes but num_classes={num_classes}")
    soft = targets.to(dtype)
    return soft * (1.0 - smoothing) + smoothing / soft.shape[1] if smoothing else soft.clone()


def mix_targets(soft: torch.Tensor, permutation: torch.Tensor, own_weight: torch.Tensor) -> torch.Tensor:
    """``own_weight * soft + (1 - own_weight) * soft[permutation]`` per sample, both weights rounded to
    ``soft.dtype`` from ``own_weight`` ``[B]`` (float64 from the mixing ops)."""
    own = own_weight.to(soft.device)
    keep = own.to(soft.dtype)[:, None]
    take = (1.0 - own).to(soft.dtype)[:, None]
    return soft * keep + soft[permutation.to(soft.device)] * take

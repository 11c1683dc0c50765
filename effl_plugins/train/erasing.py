"""``--reprob/--remode/--recount``: timm's Random Erasing (Zhong et al. 2020) of the training batch, with the
values the model reads after its normalisation.

timm erases each image after normalising it (zeros, a ``N(0, 1)`` colour per box, or ``N(0, 1)`` noise). The
engine's batch is uint8 until the task normalises it, so the erased batch becomes float (``x / 255``) with
``mean + std * z`` written unclipped: after the task's normalisation each erased value is timm's ``z`` up to
float32 rounding. It runs after ``--aug`` and before MixUp/CutMix, as in timm.
"""

from __future__ import annotations

from typing import Any

import torch

from ..augment.random_erasing import RandomErasing
from .inputs import ModelInput

__all__ = ["BatchErasing", "normalisation_of"]


def normalisation_of(model_input: ModelInput) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The ``(mean, std)`` (fractions of the value range, C floats each) that ``model_input`` normalises with."""
    std = 1.0 / (255.0 * model_input.scale.double().flatten())
    mean = model_input.shift.double().flatten() * std
    return tuple(mean.tolist()), tuple(std.tolist())


class BatchErasing:
    """Random Erasing of a training batch for a task whose model reads it through ``model_input``.

    Args:
        config: a ``TrainConfig`` (``reprob``, ``remode``, ``recount``).
        model_input: the student's input (its mean and std).

    Shape:
        ``__call__``: images ``[B, C, H, W]`` uint8 (0..255) or float (0..1) -> float ``[B, C, H, W]`` (0..1 but
        where erased).
    """

    def __init__(self, config: Any, model_input: ModelInput):
        mean, std = normalisation_of(model_input)
        self.op = RandomErasing(
            p=config.reprob, mode=config.remode, max_count=config.recount, mean=mean, std=std, clip=False
        )

    @classmethod
    def from_config(cls, config: Any, model_input: ModelInput) -> BatchErasing | None:
        """``BatchErasing`` when ``config.reprob > 0``, else None (off, timm's default)."""
        return cls(config, model_input) if config.reprob > 0 else None

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        scaled = images.float() / 255 if images.dtype == torch.uint8 else images
        return self.op(scaled, generator=generator)[0]

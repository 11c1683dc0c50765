"""What FreeMatch and SoftMatch share: FixMatch whose pseudo-label weights follow exponential moving
averages of the model's own weak-view predictions over ``K`` classes.

Every statistic moves as ``s <- m * s + (1 - m) * x`` (momentum ``m``, 0.999 in both papers); the
running mean class probability ``p_model`` ``[K]`` starts uniform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..._validate import fraction
from ..inputs import ModelInput
from .base import class_count
from .fixmatch import FixMatchTask, WeakStrongArguments

__all__ = ["AdaptiveFixMatchTask", "AdaptiveArguments"]


@dataclass(frozen=True)
class AdaptiveArguments(WeakStrongArguments):
    """``momentum``: EMA momentum of the statistics (0.999), and :class:`WeakStrongArguments` (no threshold)."""

    momentum: float = 0.999

    def __post_init__(self) -> None:
        fraction(self.momentum, "momentum")
        super().__post_init__()


class AdaptiveFixMatchTask(FixMatchTask):
    """FixMatch with EMA statistics of the weak-view predictions; ``num_classes``: K (default: the model's).

    Buffer ``p_model`` ``[K]``: the running mean class probability, ``1 / K`` at the start.
    """

    Arguments = AdaptiveArguments
    data_arguments = ("num_classes",)

    def __init__(
        self,
        model: nn.Module,
        model_input: ModelInput,
        *,
        num_classes: int | None = None,
        **arguments: Any,
    ):
        super().__init__(model, model_input, **arguments)
        self.num_classes, self.momentum = class_count(model, num_classes), float(self.arguments.momentum)
        self.register_buffer("p_model", torch.full((self.num_classes,), 1.0 / self.num_classes))

"""FreeMatch as a strategy: the engine runs :class:`~effl_plugins.train.tasks.FreeMatchTask` (Wang et al.
2023), FixMatch with self-adaptive thresholds and the self-adaptive fairness term; an epoch is one pass
over the unlabeled set."""

from __future__ import annotations

from typing import Any

from ..._validate import fraction, non_negative
from ...data import DataBundle
from ...train.tasks.freematch import FreeMatchTask, fairness_loss, freematch_mask, freematch_update
from .fixmatch import FixMatch

__all__ = ["FreeMatch", "fairness_loss", "freematch_mask", "freematch_update"]


class FreeMatch(FixMatch):
    """FixMatch whose thresholds adapt to the model's own confidence, globally and per class.

    Args:
        momentum: EMA momentum of the confidence statistics (0.999).
        lambda_f: weight of the fairness term (0.001, the official configurations'; 0 drops it).
        mu, lambda_u, weak, strong, flip: as in ``fixmatch`` (mu 7, lambda_u 1).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    name = "freematch"
    task_class = FreeMatchTask

    def __init__(self, model: str = "test_resnet", momentum: float = 0.999, lambda_f: float = 0.001, **kwargs: Any):
        if "threshold" in kwargs:
            raise TypeError("freematch has no fixed threshold (it adapts its own): drop threshold")
        super().__init__(model=model, **kwargs)
        fraction(momentum, "momentum")
        non_negative(lambda_f, "lambda_f")
        self.momentum, self.lambda_f = momentum, lambda_f

    def meaning_keys(self) -> tuple[str, ...]:
        return ("momentum", "lambda_f", "mu", "lambda_u", "weak", "strong", "flip")

    def task_kwargs(self, data: DataBundle) -> dict[str, Any]:
        return {**super().task_kwargs(data), "num_classes": data.num_classes}

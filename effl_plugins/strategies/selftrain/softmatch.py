"""SoftMatch as a strategy: the engine runs :class:`~effl_plugins.train.tasks.SoftMatchTask` (Chen et al.
2023), FixMatch with truncated-Gaussian sample weights and uniform alignment; an epoch is one pass over
the unlabeled set."""

from __future__ import annotations

from typing import Any

from ..._validate import fraction, positive
from ...data import DataBundle
from ...train.tasks.softmatch import SoftMatchTask, truncated_gaussian_weights, uniform_alignment
from .fixmatch import FixMatch

__all__ = ["SoftMatch", "truncated_gaussian_weights", "uniform_alignment"]


class SoftMatch(FixMatch):
    """FixMatch with a soft weight per pseudo-label instead of a hard threshold.

    Args:
        momentum: EMA momentum of the statistics (0.999).
        n_sigma: the Gaussian's width in standard deviations (2); lambda_max: the largest weight (1).
        alignment: uniform alignment of the weak predictions (on in the paper).
        mu, lambda_u, weak, strong, flip: as in ``fixmatch`` (mu 7, lambda_u 1).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    name = "softmatch"
    task_class = SoftMatchTask

    def __init__(
        self,
        model: str = "test_resnet",
        momentum: float = 0.999,
        n_sigma: float = 2.0,
        lambda_max: float = 1.0,
        alignment: bool = True,
        **kwargs: Any,
    ):
        if "threshold" in kwargs:
            raise TypeError("softmatch has no threshold (it weights every pseudo-label): drop threshold")
        super().__init__(model=model, **kwargs)
        fraction(momentum, "momentum")
        for key, value in (("n_sigma", n_sigma), ("lambda_max", lambda_max)):
            positive(value, key)
        if not isinstance(alignment, bool):
            raise ValueError(f"alignment must be True or False, got {alignment!r}")
        self.momentum, self.n_sigma, self.lambda_max, self.alignment = momentum, n_sigma, lambda_max, alignment

    def meaning_keys(self) -> tuple[str, ...]:
        return ("momentum", "n_sigma", "lambda_max", "alignment", "mu", "lambda_u", "weak", "strong", "flip")

    def task_kwargs(self, data: DataBundle) -> dict[str, Any]:
        return {**super().task_kwargs(data), "num_classes": data.num_classes}

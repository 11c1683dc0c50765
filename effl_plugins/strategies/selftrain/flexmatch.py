"""FlexMatch as a strategy: the engine runs :class:`~effl_plugins.train.tasks.FlexMatchTask` (Zhang et al.
2021), FixMatch with curriculum per-class thresholds; an epoch is one pass over the unlabeled set."""

from __future__ import annotations

from typing import Any

from ...data import DataBundle
from ...train.tasks.flexmatch import FlexMatchTask, convex_mapping, flexmatch_learning_status
from .fixmatch import FixMatch

__all__ = ["FlexMatch", "convex_mapping", "flexmatch_learning_status"]


class FlexMatch(FixMatch):
    """FixMatch whose threshold per class follows that class's learning status.

    Args:
        threshold: ``tau``, the threshold of the best-learned class (0.95 in the paper).
        warmup: the threshold warm-up (unused images join the normaliser; on in the paper).
        mu, lambda_u, weak, strong, flip: as in ``fixmatch`` (mu 7, lambda_u 1 in the paper).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    name = "flexmatch"
    task_class = FlexMatchTask

    def __init__(self, model: str = "test_resnet", threshold: float = 0.95, warmup: bool = True, **kwargs: Any):
        super().__init__(model=model, threshold=threshold, **kwargs)
        if not isinstance(warmup, bool):
            raise ValueError(f"warmup must be True or False, got {warmup!r}")
        self.warmup = warmup

    def meaning_keys(self) -> tuple[str, ...]:
        return (*super().meaning_keys(), "warmup")

    def task_kwargs(self, data: DataBundle) -> dict[str, Any]:
        return {**super().task_kwargs(data), "num_unlabeled": len(data.unlabeled), "num_classes": data.num_classes}

"""UDA as a strategy: the engine runs :class:`~effl_plugins.train.tasks.UDATask` (Xie et al. 2020),
sharpened weak-to-strong consistency with a confidence mask and optional training signal annealing; an
epoch is one pass over the unlabeled set."""

from __future__ import annotations

from typing import Any

from ..._validate import positive
from ...data import DataBundle
from ...train.tasks.uda import TSA_SCHEDULES, UDATask, tsa_threshold, uda_unlabeled_loss
from .fixmatch import FixMatch

__all__ = ["UDA", "tsa_threshold", "uda_unlabeled_loss"]


class UDA(FixMatch):
    """Unsupervised data augmentation: consistency of the strong view with the weak view's sharpened prediction.

    Args:
        temperature: sharpening temperature of the targets (0.4); threshold: confidence mask (0.8).
        tsa: training signal annealing on the supervised loss: ``none`` (default), ``linear``, ``log``, ``exp``.
        mu, lambda_u, weak, strong, flip: as in ``fixmatch`` (mu 7, lambda_u 1).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    name = "uda"
    task_class = UDATask

    def __init__(
        self,
        model: str = "test_resnet",
        temperature: float = 0.4,
        threshold: float = 0.8,
        tsa: str = "none",
        **kwargs: Any,
    ):
        super().__init__(model=model, threshold=threshold, **kwargs)
        positive(temperature, "temperature")
        if tsa not in TSA_SCHEDULES:
            raise ValueError(f"tsa must be one of {', '.join(TSA_SCHEDULES)}, got {tsa!r}")
        self.temperature, self.tsa = temperature, tsa

    def meaning_keys(self) -> tuple[str, ...]:
        return (*super().meaning_keys(), "temperature", "tsa")

    def task_kwargs(self, data: DataBundle) -> dict[str, Any]:
        return {**super().task_kwargs(data), "num_classes": data.num_classes}

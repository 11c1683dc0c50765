"""Mean Teacher as a strategy: the engine runs :class:`~effl_plugins.train.tasks.MeanTeacherTask`
(Tarvainen & Valpola 2017); the EMA teacher is the model evaluated and saved."""

from __future__ import annotations

from typing import Any

from ..._validate import fraction, integer, non_negative
from ...train import MeanTeacherTask
from ...train.tasks.mean_teacher import ema_update, sigmoid_rampup, softmax_mse
from .consistency import ConsistencyStrategy

__all__ = ["MeanTeacher", "ema_update", "sigmoid_rampup", "softmax_mse"]


class MeanTeacher(ConsistencyStrategy):
    """EMA-teacher consistency training.

    Args:
        ema_decay: EMA decay during the ramp-up (0.99 in the paper); ``ema_decay_after`` afterwards (0.999).
        consistency: maximum weight of the consistency cost; ``rampup_epochs`` its sigmoid ramp-up.
        mu: unlabeled images per labeled image in a step.
        noise: the input noise, a batch augmentation SPEC drawn independently for both models (None:
            random flip and translation; ``flip=False`` drops the flip).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    name = "mean_teacher"
    task_class = MeanTeacherTask

    def __init__(
        self,
        model: str = "test_resnet",
        ema_decay: float = 0.99,
        ema_decay_after: float = 0.999,
        consistency: float = 10.0,
        rampup_epochs: float = 5.0,
        mu: int = 1,
        noise: str | None = None,
        flip: bool = True,
        **kwargs: Any,
    ):
        super().__init__(model=model, **kwargs)
        for key, value in (("ema_decay", ema_decay), ("ema_decay_after", ema_decay_after)):
            fraction(value, key)
        for key, value in (("consistency", consistency), ("rampup_epochs", rampup_epochs)):
            non_negative(value, key)
        integer(mu, "mu (unlabeled ratio)", low=1)
        self.ema_decay, self.ema_decay_after, self.consistency = ema_decay, ema_decay_after, consistency
        self.rampup_epochs, self.mu, self.noise, self.flip = rampup_epochs, mu, noise, flip

    def meaning_keys(self) -> tuple[str, ...]:
        return ("ema_decay", "ema_decay_after", "consistency", "rampup_epochs", "mu", "noise", "flip")

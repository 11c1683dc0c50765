"""FixMatch as a strategy: the engine runs :class:`~effl_plugins.train.tasks.FixMatchTask` (Sohn et al.
2020) on the labeled stream and the unlabeled stream (``mu * batch_size`` images a step); an epoch
is one pass over the unlabeled set."""

from __future__ import annotations

from typing import Any

from ..._validate import fraction, integer, non_negative
from ...train import FixMatchTask
from ...train.tasks.fixmatch import fixmatch_unlabeled_loss
from .consistency import ConsistencyStrategy

__all__ = ["FixMatch", "fixmatch_unlabeled_loss"]


class FixMatch(ConsistencyStrategy):
    """Weak/strong augmentation consistency with a confidence threshold.

    Args:
        threshold: confidence for a pseudo-label (0.95 in the paper).
        mu: unlabeled images per labeled image in a step (7 in the paper).
        lambda_u: weight of the unlabeled loss (1 in the paper).
        weak, strong: batch augmentation SPECs of the two views (weak None: the paper's flip and
            12.5 % translation; strong: RandAugment N=2, M=10).
        flip: keep the weak view's flip (off for data such as digits).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy` (``epochs``
        are passes over the unlabeled set, ``batch_size`` the labeled images per step).
    """

    #: Arguments of the conformance checks (effl_plugins.testing), inherited by the FixMatch family.
    conformance_kwargs = {"mu": 2}

    name = "fixmatch"
    task_class = FixMatchTask

    def __init__(
        self,
        model: str = "test_resnet",
        threshold: float = 0.95,
        mu: int = 7,
        lambda_u: float = 1.0,
        weak: str | None = None,
        strong: str = "rand_augment(num_ops=2, magnitude=10)",
        flip: bool = True,
        **kwargs: Any,
    ):
        super().__init__(model=model, **kwargs)
        fraction(threshold, "threshold")
        integer(mu, "mu (unlabeled ratio)", low=1)
        non_negative(lambda_u, "lambda_u")
        self.threshold, self.mu, self.lambda_u = threshold, mu, lambda_u
        self.weak, self.strong, self.flip = weak, strong, flip

    def meaning_keys(self) -> tuple[str, ...]:
        return ("threshold", "mu", "lambda_u", "weak", "strong", "flip")

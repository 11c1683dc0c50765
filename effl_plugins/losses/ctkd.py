"""Curriculum temperature KD (Li, Li, Yang, Li, Wang, Song & Yang AAAI 2023, "Curriculum Temperature
for Knowledge Distillation").

Hinton KD whose temperature is learned adversarially: ``T = t_start + t_range * sigmoid(theta)``, one
global learnable ``theta`` (initialised to 1) reached through a gradient reversal layer
(``gradient_reversal.py``), so that the temperature *maximises* the KD term the student minimises. The
reversal weight follows a cosine curriculum over ``decay_epochs``:
``lambda(e) = lambda_max * (1 - cos(pi * min(e, E) / E)) / 2``, from 0 (easy) to ``lambda_max`` (hard).
``KD = T^2 * KL(softmax(t / T) || softmax(s / T))`` (batchmean), ``loss = alpha * KD + ce_weight * CE(s, y)``.

Defaults are the official CIFAR-100 script's (``zhengli97/CTKD``; ``t_range`` is its ``--t_end``, and its
``--decay_max 0 --decay_min -1`` the same reversal to ``lambda = 1``). The curriculum position is the
caller's: ``set_epoch`` once per epoch (the official loop counts epochs from 1), ``epoch=`` in the call, or
``set_progress``. The epoch is a Python float (no device round trip per step) saved in ``state_dict``
beside ``theta``; train ``loss.parameters()`` with the student so that ``theta`` learns. A masked teacher
class adds exactly 0 to the gradient of ``theta`` too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import fraction, integer, non_negative
from .base import DistillationLoss, as_float, check_non_negative, check_positive
from .functional import kl_div_log_target
from .gradient_reversal import GradientReversal

__all__ = ["CTKDLoss"]


class CTKDLoss(DistillationLoss):
    """KD with a learnable, adversarial temperature on a cosine curriculum.

    Args:
        t_start: lowest temperature > 0 (1). t_range: span of the temperature > 0 (20).
        lambda_max: final reversal weight >= 0 (1). decay_epochs: curriculum length in epochs, int >= 1 (10).
        total_epochs: length of training that ``set_progress`` maps onto, int >= 1 (240, the official schedule).
        alpha: KD weight >= 0 (0.9). ce_weight: CE weight >= 0 when targets are given (0.1).
        teacher_classes: optional teacher class index per student class.

    Shape:
        student_logits ``[B, K]``, teacher_logits ``[B, K]`` (``[B, K_teacher]`` with teacher_classes).
        Returns ``{"loss", "kd", "temperature"}`` (the temperature of this call) plus ``"ce"`` with targets.

    Example:
        >>> ctkd = CTKDLoss()
        >>> ctkd.set_epoch(5)
        >>> out = ctkd(torch.randn(4, 10, requires_grad=True), torch.randn(4, 10), torch.arange(4))
        >>> sorted(out), round(ctkd.reversal_weight(), 3)
        (['ce', 'kd', 'loss', 'temperature'], 0.5)
    """

    masked_teacher = True

    def __init__(
        self,
        t_start: float = 1.0,
        t_range: float = 20.0,
        lambda_max: float = 1.0,
        decay_epochs: int = 10,
        alpha: float = 0.9,
        ce_weight: float = 0.1,
        total_epochs: int = 240,
        teacher_classes=None,
    ):
        super().__init__(teacher_classes)
        self.t_start = check_positive(t_start, "t_start")
        self.t_range = check_positive(t_range, "t_range")
        self.lambda_max = check_non_negative(lambda_max, "lambda_max")
        self.decay_epochs = integer(decay_epochs, "decay_epochs", low=1)
        self.total_epochs = integer(total_epochs, "total_epochs", low=1)
        self.alpha = check_non_negative(alpha, "alpha")
        self.ce_weight = check_non_negative(ce_weight, "ce_weight")
        self.theta = nn.Parameter(torch.ones(()))
        self.epoch = 0.0

    def set_epoch(self, epoch: float) -> None:
        """Set the curriculum position (epochs, >= 0; fractions allowed for per-step updates)."""
        self.epoch = non_negative(epoch, "epoch")

    def set_progress(self, progress: float) -> None:
        """Set the curriculum position from the fraction of training done, in [0, 1] (epoch ``p * total_epochs``)."""
        self.set_epoch(fraction(progress, "progress", kind="a fraction") * self.total_epochs)

    def get_extra_state(self) -> dict:
        return {"epoch": self.epoch}

    def set_extra_state(self, state: dict) -> None:
        self.set_epoch(state["epoch"])

    def reversal_weight(self) -> float:
        """``lambda`` at the current epoch: ``lambda_max * (1 - cos(pi * min(epoch, E) / E)) / 2``."""
        progress = min(self.epoch, self.decay_epochs) / self.decay_epochs
        return self.lambda_max * (1.0 - math.cos(math.pi * progress)) / 2.0

    def temperature(self) -> torch.Tensor:
        """The current temperature ``t_start + t_range * sigmoid(theta)`` (a scalar, no reversal)."""
        return self.t_start + self.t_range * torch.sigmoid(self.theta.float())

    def forward(self, student_logits, teacher_logits=None, targets=None, *, epoch=None, **features):
        if epoch is not None:
            self.set_epoch(epoch)
        student_logits, teacher_logits = self.logits(student_logits, teacher_logits, targets)
        student = as_float(student_logits)
        theta = GradientReversal.apply(self.theta.to(student.dtype), self.reversal_weight())
        temperature = self.t_start + self.t_range * torch.sigmoid(theta)
        log_p_s = F.log_softmax(student / temperature, -1)
        teacher = as_float(teacher_logits).to(student.dtype)
        masked = torch.isneginf(teacher)  # masked classes: -inf after the division too, with a 0 (not NaN) d/dT
        scaled = torch.where(masked, float("-inf"), teacher.masked_fill(masked, 0.0) / temperature)
        log_p_t = F.log_softmax(scaled, -1)
        kd = kl_div_log_target(log_p_s, log_p_t) * temperature**2
        out = {"loss": self.alpha * kd, "kd": kd, "temperature": temperature.detach()}
        return self.with_ce(out, student_logits, targets)

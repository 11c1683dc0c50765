"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network").

``KD = T^2 * KL(softmax(t / T) || softmax(s / T))``, summed over classes and averaged over the
batch (``batchmean``). The ``T^2`` keeps gradient magnitudes comparable across temperatures.
With hard or soft ``targets``: ``loss = alpha * KD + (1 - alpha) * CE(s, targets)``; without: KD alone.
"""

from __future__ import annotations

from .._validate import choice
from .base import DistillationLoss, check_fraction, check_positive
from .functional import kd_divergence
from .fused_kd import KD_PATHS

__all__ = ["KDLoss"]


class KDLoss(DistillationLoss):
    """Hinton knowledge distillation: ``alpha * T^2 * KL + (1 - alpha) * CE``.

    Args:
        temperature: T > 0, softens both distributions.
        alpha: weight of the distillation term when targets are given, in [0, 1].
        teacher_classes: optional teacher class index per student class (heads of different sizes).
        path: how the KD term is computed (``functional.kd_divergence``): ``"auto"`` (the fastest
            measured path for the device and size), or ``"eager"``, ``"fused"``, ``"triton"`` to force one.

    Shape:
        student_logits ``[B, K]``, teacher_logits ``[B, K]`` (or ``[B, K_teacher]`` with teacher_classes);
        targets ``[B]`` int or ``[B, K]`` probabilities.
        Returns ``{"loss", "kd"}`` plus ``"ce"`` when targets are given (scalars).

    Example:
        >>> kd = KDLoss(temperature=4.0, alpha=0.9)
        >>> s, t = torch.randn(8, 10, requires_grad=True), torch.randn(8, 10)
        >>> out = kd(s, t, torch.randint(0, 10, (8,)))
        >>> sorted(out)
        ['ce', 'kd', 'loss']
    """

    masked_teacher = True

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9, teacher_classes=None, path: str = "auto"):
        super().__init__(teacher_classes)
        self.temperature = check_positive(temperature, "temperature")
        self.alpha = check_fraction(alpha, "alpha")
        self.path = choice(path, "path", KD_PATHS)

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        student_logits, teacher_logits = self.logits(student_logits, teacher_logits, targets, finite_after=True)
        kd = kd_divergence(student_logits, teacher_logits, self.temperature, self.path)
        self.refuse_non_finite(kd, student_logits, teacher_logits, targets)  # non-finite rule and targets: one read
        loss = kd if targets is None else self.alpha * kd
        return self.with_ce({"loss": loss, "kd": kd}, student_logits, targets, 1.0 - self.alpha)

"""Knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network").

``KD = T^2 * KL(softmax(t / T) || softmax(s / T))``, summed over classes and averaged over the
batch (``batchmean``). The ``T^2`` keeps gradient magnitudes comparable across temperatures.
With hard or soft ``targets``: ``loss = alpha * KD + (1 - alpha) * CE(s, targets)``; without: KD alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DistillationLoss, check_fraction, check_positive, cross_entropy
from .fused_kd import fused_kd_divergence

__all__ = ["KDLoss", "kd_divergence", "kd_divergence_reference"]


def kd_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))``, batchmean, computed in float32 (or wider).

    Runs the fused kernel (``fused_kd.py``: analytic gradient; a Triton row kernel on CUDA, chunked
    rows on CPU when a gradient will be taken); other calls get ``kd_divergence_reference``.
    """
    fused = fused_kd_divergence(student_logits, teacher_logits, temperature)
    return fused if fused is not None else kd_divergence_reference(student_logits, teacher_logits, temperature)


def kd_divergence_reference(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """The eager reference of ``kd_divergence``: log-softmax, KL, autograd through the graph."""
    dtype = torch.promote_types(student_logits.dtype, torch.float32)
    log_p_student = F.log_softmax(student_logits.to(dtype) / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().to(dtype) / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


class KDLoss(DistillationLoss):
    """Hinton knowledge distillation: ``alpha * T^2 * KL + (1 - alpha) * CE``.

    Args:
        temperature: T > 0, softens both distributions.
        alpha: weight of the distillation term when targets are given, in [0, 1].
        teacher_classes: optional teacher class index per student class (heads of different sizes).

    Shape:
        student_logits ``[B, K]``, teacher_logits ``[B, K]`` (or ``[B, K_teacher]`` with teacher_classes); targets ``[B]`` int or ``[B, K]`` probabilities.
        Returns ``{"loss", "kd"}`` plus ``"ce"`` when targets are given (scalars).

    Example:
        >>> kd = KDLoss(temperature=4.0, alpha=0.9)
        >>> s, t = torch.randn(8, 10, requires_grad=True), torch.randn(8, 10)
        >>> out = kd(s, t, torch.randint(0, 10, (8,)))
        >>> sorted(out)
        ['ce', 'kd', 'loss']
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9, teacher_classes=None):
        super().__init__(teacher_classes)
        self.temperature = check_positive(temperature, "temperature")
        self.alpha = check_fraction(alpha, "alpha")

    def forward(self, student_logits, teacher_logits=None, targets=None, **features):
        student_logits, teacher_logits = self.logits(student_logits, teacher_logits, targets)
        kd = kd_divergence(student_logits, teacher_logits, self.temperature)
        if targets is None:
            return {"loss": kd, "kd": kd}
        ce = cross_entropy(student_logits, targets)
        return {"loss": self.alpha * kd + (1.0 - self.alpha) * ce, "kd": kd, "ce": ce}

"""Loss terms as plain functions, shared by the loss classes (``kd``, the feature losses' logit part,
``logit_std_kd``) without importing one another."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fused_kd import fused_kd_divergence

__all__ = ["kd_divergence", "kd_divergence_reference"]


def kd_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))``, batchmean, computed in float32 (or wider).

    Runs the fused kernel (``fused_kd.py``: analytic gradient; a Triton row kernel on CUDA, chunked
    rows on CPU when a gradient will be taken); other calls get ``kd_divergence_reference``.
    """
    fused = fused_kd_divergence(student_logits, teacher_logits, temperature)
    return fused if fused is not None else kd_divergence_reference(student_logits, teacher_logits, temperature)


def kd_divergence_reference(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The eager reference of ``kd_divergence``: log-softmax, KL, autograd through the graph."""
    dtype = torch.promote_types(student_logits.dtype, torch.float32)
    log_p_student = F.log_softmax(student_logits.to(dtype) / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().to(dtype) / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2

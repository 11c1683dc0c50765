"""Loss terms as plain functions, shared by the loss classes (``kd``, the feature losses' logit part,
``logit_std_kd``) without importing one another."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .fused_kd import fused_kd_divergence

__all__ = ["kd_divergence", "kd_divergence_reference", "kl_div_log_target"]


def kd_divergence(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, path: str = "auto"
) -> torch.Tensor:
    """``T^2 * KL(softmax(t/T) || softmax(s/T))``, batchmean, computed in float32 (or wider).

    ``path`` (``fused_kd.KD_PATHS``): ``"auto"`` takes the fastest measured path for the device and
    size (``fused_kd.kd_path``); ``"eager"``, ``"fused"``, ``"triton"`` force one. Every path matches
    the float64 formula to float32 rounding, value and gradient, masked (``-inf``) teacher classes
    included (probability 0).
    """
    fused = fused_kd_divergence(student_logits, teacher_logits, temperature, path)
    return fused if fused is not None else kd_divergence_reference(student_logits, teacher_logits, temperature)


def kd_divergence_reference(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """The eager reference of ``kd_divergence``: log-softmax, KL, autograd through the graph; masked
    teacher classes (``-inf``) as in ``kl_div_log_target``."""
    dtype = torch.promote_types(student_logits.dtype, torch.float32)
    log_p_student = F.log_softmax(student_logits.to(dtype) / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().to(dtype) / temperature, dim=-1)
    log_p_teacher.clamp_min_(torch.finfo(dtype).min)  # kl_div_log_target's floor, in place: no gradient here
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


def kl_div_log_target(log_q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """``KL(p || q)`` summed over the last dim and averaged over the batch, from log-probabilities; the
    target ``log_p`` may hold ``-inf`` (a masked class, ``p = 0``), which contributes exactly 0
    (``0 log 0 = 0``) to the value and to the gradients (of ``log_q``, and of ``log_p`` where it has one).

    ``F.kl_div(..., log_target=True)`` computes ``exp(log_p) * (log_p - log_q)``, NaN at ``log_p = -inf``;
    raising ``-inf`` to the dtype's lowest finite value keeps ``exp`` at exactly 0 and the difference
    finite, and leaves every finite entry unchanged (the same ops, bit for bit, as without it).
    """
    floor = torch.finfo(log_p.dtype).min
    return F.kl_div(log_q, log_p.clamp_min(floor), reduction="batchmean", log_target=True)

"""Contrastive representation distillation (Tian, Krishnan & Isola ICLR 2020, "Contrastive
Representation Distillation").

Student and teacher embeddings (the pooled penultimate features) pass through trainable heads,
``v = normalize(W f + b)`` ``[B, feat_dim]``. Each side is contrasted with the other side's memory:
for the student, the positive is the teacher's embedding of the same sample and the ``K`` negatives
are teacher embeddings of other samples (and symmetrically for the teacher head). With the score
``P(x) = exp(<v, w> / nce_t) / Z``, the NCE loss (the paper's eq. 18, the authors' ``ContrastLoss``)
is ``-(sum_b log P_pos / (P_pos + K / N) + sum_{b,k} log (K / N) / (P_neg + K / N)) / B`` over a
bank of ``N`` rows, in log space here (the authors add eps 1e-7 inside the logs). ``Z`` is
estimated once from the first training batch, ``mean exp(<v, w> / nce_t) * N``, and then kept, as
in the authors' ``ContrastMemory``. ``loss = crd_weight * (nce_s + nce_t) + ce_weight * CE + kd_weight
* KD_T``; ``feat_dim = 128``, ``nce_t = 0.07``, ``momentum = 0.5``, ``crd_weight = 0.8`` as in
RepDistiller (``nce_k = 16384`` there too).

Two memories, both buffers (saved in ``state_dict``; updated only in ``train()`` mode, after the loss):

- ``num_data=N`` with dataset ``indices=`` ``[B]`` in the call (the paper's set-up): one row per
  sample; the positive is the row of the sample itself, ``nce_k`` negatives are drawn uniformly
  (the authors draw them from other classes), and rows are momentum-updated:
  ``row = normalize(momentum * row + (1 - momentum) * v)``.
- without ``num_data`` (no indices, as a timm loader gives): a FIFO queue of the last ``nce_k``
  embeddings of each side (MoCo, He et al. 2020); the positive is the other side's current embedding
  of the same sample (detached, as a memory row would be) and every queue row is a negative.

The heads are built from ``student_channels`` / ``teacher_channels`` when given, else lazily
(``nn.LazyLinear``) on the first call: give the widths, or run one batch before building the
optimizer, so that ``loss.parameters()`` holds them. Without features the loss is its logit part.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import FeatureDistillationLoss, check_non_negative, check_positive
from .embedding import embedding_pairs

__all__ = ["CRDLoss", "nce_loss"]


def nce_loss(scores: torch.Tensor, log_normalizer: torch.Tensor, bank_size: int) -> torch.Tensor:
    """NCE over ``scores`` ``[B, 1 + K]`` (``<v, w> / nce_t``; column 0 the positive), noise ``P_n = 1 / N``."""
    log_noise = math.log((scores.shape[1] - 1) / bank_size)  # log(K * P_n)
    log_p = scores - log_normalizer
    log_denominator = torch.logaddexp(log_p, torch.full_like(log_p, log_noise))
    positive = (log_p[:, 0] - log_denominator[:, 0]).sum()
    negative = (log_noise - log_denominator[:, 1:]).sum()
    return -(positive + negative) / len(scores)


def _head(in_features: int | None, feat_dim: int) -> nn.Module:
    return nn.LazyLinear(feat_dim) if in_features is None else nn.Linear(in_features, feat_dim)


class CRDLoss(FeatureDistillationLoss):
    """Contrastive representation distillation with a momentum memory or a queue of embeddings.

    Args:
        feat_dim: embedding width (128). nce_k: negatives per sample, also the queue length (16384).
        nce_t: temperature > 0 (0.07). momentum: memory momentum in [0, 1) (0.5).
        num_data: dataset size for the per-sample memory (then pass ``indices=``); None: the queue.
        crd_weight: weight >= 0 of the contrastive term (0.8). ce_weight, kd_weight, temperature: logit part.
        student_channels, teacher_channels: input widths of the heads (else built on the first call).

    Shape:
        student_features / teacher_features: ``[B, C, H, W]``, ``[B, N, D]`` or ``[B, D]``; indices ``[B]``.
        Returns ``{"loss"}`` with ``"crd"``, ``"nce_student"``, ``"nce_teacher"`` (features), ``"ce"``, ``"kd"``.

    Example:
        >>> crd = CRDLoss(nce_k=32, student_channels=8, teacher_channels=16)
        >>> out = crd(torch.randn(4, 10), None, torch.arange(4),
        ...           student_features=torch.randn(4, 8, 2, 2), teacher_features=torch.randn(4, 16, 2, 2))
        >>> sorted(out)
        ['ce', 'crd', 'loss', 'nce_student', 'nce_teacher']
    """

    def __init__(self, feat_dim: int = 128, nce_k: int = 16384, nce_t: float = 0.07, momentum: float = 0.5,
                 num_data: int | None = None, crd_weight: float = 0.8, ce_weight: float = 1.0, kd_weight: float = 0.0,
                 temperature: float = 4.0, student_channels: int | None = None, teacher_channels: int | None = None,
                 teacher_classes=None):
        super().__init__(ce_weight, kd_weight, temperature, teacher_classes)
        for name, value in (("feat_dim", feat_dim), ("nce_k", nce_k), ("num_data", num_data),
                            ("student_channels", student_channels), ("teacher_channels", teacher_channels)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an int >= 1{'' if name in ('feat_dim', 'nce_k') else ' or None'}, "
                                 f"got {value!r}")
        if not (isinstance(momentum, (int, float)) and not isinstance(momentum, bool) and 0 <= momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.feat_dim, self.nce_k, self.num_data, self.momentum = feat_dim, nce_k, num_data, float(momentum)
        self.nce_t = check_positive(nce_t, "nce_t")
        self.crd_weight = check_non_negative(crd_weight, "crd_weight")
        self.embed_student, self.embed_teacher = _head(student_channels, feat_dim), _head(teacher_channels, feat_dim)
        rows = num_data or nce_k
        self.register_buffer("memory_student", F.normalize(torch.randn(rows, feat_dim), dim=1))
        self.register_buffer("memory_teacher", F.normalize(torch.randn(rows, feat_dim), dim=1))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("log_normalizers", torch.full((2,), float("nan")))  # log Z for each side, set once

    def _scores(self, v, other, memory, rows):
        """``[B, 1 + K]``: the positive in column 0, then the negatives, divided by ``nce_t``."""
        if rows is None:
            return torch.cat([(v * other.detach()).sum(1, keepdim=True), v @ memory.clone().T], 1) / self.nce_t
        return torch.einsum("bkd,bd->bk", memory[rows], v) / self.nce_t

    def _check_indices(self, indices, batch):
        if self.num_data is None:
            if indices is not None:
                raise ValueError("indices= needs a per-sample memory: build the loss with num_data=<dataset size>")
            return None
        if not isinstance(indices, torch.Tensor) or indices.shape != (batch,) or indices.dtype.is_floating_point:
            got = (indices.dtype, list(indices.shape)) if isinstance(indices, torch.Tensor) else indices
            raise ValueError(f"indices must be int dataset indices [B={batch}] when num_data={self.num_data}, got {got}")
        if len(indices) and not 0 <= int(indices.min()) <= int(indices.max()) < self.num_data:
            raise ValueError(f"indices must be in [0, num_data={self.num_data}), "
                             f"got [{int(indices.min())}, {int(indices.max())}]")
        return indices.long()

    @torch.no_grad()
    def _update(self, v_s, v_t, indices):
        for memory, v in ((self.memory_student, v_s), (self.memory_teacher, v_t)):
            if indices is None:  # FIFO: the batch (its last rows if it is longer) overwrites the oldest rows
                v = v[-len(memory):]
                memory[(self.queue_pointer + torch.arange(len(v), device=v.device)) % len(memory)] = v.to(memory.dtype)
            else:
                memory[indices] = F.normalize(self.momentum * memory[indices] + (1 - self.momentum) * v, dim=1)
        if indices is None:
            written = min(len(v_s), len(self.memory_student))
            self.queue_pointer.copy_((self.queue_pointer + written) % len(self.memory_student))

    def _contrast(self, student, teacher, indices):
        v_s = F.normalize(self.embed_student(student), dim=1)
        v_t = F.normalize(self.embed_teacher(teacher), dim=1)
        rows = None  # per-sample memory: the sample's row, then K uniform draws shared by both sides
        if indices is not None:
            rows = torch.cat([indices[:, None], torch.randint(0, self.num_data, (len(v_s), self.nce_k), device=v_s.device)], 1)
        scores = [self._scores(v_s, v_t, self.memory_teacher, rows), self._scores(v_t, v_s, self.memory_student, rows)]
        if self.training and torch.isnan(self.log_normalizers).any():
            with torch.no_grad():
                estimates = [torch.logsumexp(s.flatten(), 0) - math.log(s.numel()) for s in scores]
                self.log_normalizers.copy_(torch.stack(estimates) + math.log(len(self.memory_student)))
        if torch.isnan(self.log_normalizers).any():
            raise ValueError("crd has no normalizing constant yet: run one batch in train() mode first")
        bank = len(self.memory_student)
        nce = [nce_loss(s, z, bank) for s, z in zip(scores, self.log_normalizers)]
        if self.training:
            self._update(v_s.detach(), v_t.detach(), indices)
        return nce

    def forward(self, student_logits, teacher_logits=None, targets=None, *, student_features=None,
                teacher_features=None, indices=None, **features):
        pairs = embedding_pairs(student_features, teacher_features)
        if len(pairs) > 1:
            raise ValueError(f"crd takes one feature pair (the penultimate features), got {len(pairs)}")
        if not pairs:
            return self.combine("crd", None, self.crd_weight, student_logits, teacher_logits, targets)
        student, teacher = pairs[0]
        indices = self._check_indices(indices, len(student))
        with torch.autocast(student.device.type, enabled=False):
            nce_s, nce_t = self._contrast(student.float(), teacher.float(), indices)
        out = self.combine("crd", nce_s + nce_t, self.crd_weight, student_logits, teacher_logits, targets)
        return {**out, "nce_student": nce_s, "nce_teacher": nce_t}

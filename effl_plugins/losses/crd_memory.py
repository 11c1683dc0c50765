"""The memory of contrastive representation distillation (Tian, Krishnan & Isola ICLR 2020) and its
NCE loss; the loss itself is ``crd.py``.

One memory row per dataset sample for each side (student, teacher), as the authors' ``ContrastMemory``,
when ``num_data`` is given and the call passes dataset ``indices``: the positive of a sample is its
own row, ``K`` negatives are drawn uniformly, once per batch for both sides (the authors draw them
from other classes), and rows are momentum-updated, ``row = normalize(m * row + (1 - m) * v)``.
Without ``num_data`` (timm loaders give no indices), a FIFO queue of the last ``K`` embeddings of each
side, as in MoCo (He et al. CVPR 2020): the positive is the other side's current embedding of the
same sample (detached, as a memory row would be) and every queue row is a negative.

The normalizing constant ``Z = mean exp(<v, w> / nce_t) * N`` (``N`` rows) is estimated on the first
training batch and then kept, as the authors do. Rows, queue position and ``log Z`` are buffers,
saved in ``state_dict``; they change only in ``train()`` mode.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ContrastMemory", "nce_loss"]


def nce_loss(scores: torch.Tensor, log_normalizer: torch.Tensor, rows: int) -> torch.Tensor:
    """``-(sum_b log P_pos / (P_pos + K / N) + sum_{b,k} log (K / N) / (P_neg + K / N)) / B`` with
    ``P = exp(scores) / Z`` over ``scores`` ``[B, 1 + K]`` (column 0 the positive): the paper's eq. 18
    and the authors' ``ContrastLoss`` (which adds eps 1e-7 inside the logs), in log space."""
    log_noise = math.log((scores.shape[1] - 1) / rows)  # log(K * P_n), P_n = 1 / N
    log_p = scores - log_normalizer
    log_denominator = torch.logaddexp(log_p, torch.full_like(log_p, log_noise))
    return -((log_p[:, 0] - log_denominator[:, 0]).sum() + (log_noise - log_denominator[:, 1:]).sum()) / len(scores)


class ContrastMemory(nn.Module):
    """Unit-norm embeddings of both sides ``[N, feat_dim]``: per dataset sample, or a queue of ``nce_k``."""

    def __init__(self, feat_dim: int, nce_k: int, num_data: int | None = None, momentum: float = 0.5):
        super().__init__()
        self.nce_k, self.num_data, self.momentum, self._normalized = nce_k, num_data, momentum, False
        rows = num_data or nce_k
        self.register_buffer("student", F.normalize(torch.randn(rows, feat_dim), dim=1))
        self.register_buffer("teacher", F.normalize(torch.randn(rows, feat_dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("log_normalizers", torch.full((2,), float("nan")))  # log Z of each side, set once

    def _load_from_state_dict(self, *args, **kwargs):
        self._normalized = False  # the loaded log Z is checked again on the next call
        super()._load_from_state_dict(*args, **kwargs)

    def check_indices(self, indices, batch: int) -> torch.Tensor | None:
        if self.num_data is None:
            if indices is not None:
                raise ValueError("indices= needs a per-sample memory: build the loss with num_data=<dataset size>")
            return None
        if not isinstance(indices, torch.Tensor) or indices.shape != (batch,) or indices.dtype.is_floating_point:
            got = (indices.dtype, list(indices.shape)) if isinstance(indices, torch.Tensor) else indices
            raise ValueError(
                f"indices must be int dataset indices [B={batch}] when num_data={self.num_data}, got {got}"
            )
        if len(indices) and not 0 <= int(indices.min()) <= int(indices.max()) < self.num_data:
            raise ValueError(
                f"indices must be in [0, num_data={self.num_data}), got [{int(indices.min())}, {int(indices.max())}]"
            )
        return indices.long()

    def losses(self, v_s: torch.Tensor, v_t: torch.Tensor, nce_t: float, indices=None) -> list[torch.Tensor]:
        """NCE of the student against the teacher memory and of the teacher against the student memory."""
        if indices is None:
            scores = [
                torch.cat([(v * other.detach()).sum(1, keepdim=True), v @ memory.clone().T], 1) / nce_t
                for v, other, memory in ((v_s, v_t, self.teacher), (v_t, v_s, self.student))
            ]
        else:
            negatives = torch.randint(0, self.num_data, (len(v_s), self.nce_k), device=v_s.device)
            rows = torch.cat([indices[:, None], negatives], 1)
            scores = [
                torch.einsum("bkd,bd->bk", memory[rows], v) / nce_t
                for v, memory in ((v_s, self.teacher), (v_t, self.student))
            ]
        if not self._normalized:  # a device round trip until Z is known (set here, or loaded)
            if self.training and torch.isnan(self.log_normalizers).any():
                estimates = [torch.logsumexp(s.detach().flatten(), 0) - math.log(s.numel()) for s in scores]
                self.log_normalizers.copy_(torch.stack(estimates) + math.log(len(self.student)))
            self._normalized = not bool(torch.isnan(self.log_normalizers).any())
            if not self._normalized:
                raise ValueError("crd has no normalizing constant yet: run one batch in train() mode first")
        losses = [nce_loss(s, z, len(self.student)) for s, z in zip(scores, self.log_normalizers)]
        if self.training:
            self.update(v_s.detach(), v_t.detach(), indices)
        return losses

    @torch.no_grad()
    def update(self, v_s: torch.Tensor, v_t: torch.Tensor, indices=None) -> None:
        for memory, v in ((self.student, v_s), (self.teacher, v_t)):
            if indices is None:  # FIFO: the batch (its last rows if longer) overwrites the oldest rows
                v = v[-len(memory) :]
                memory[(self.pointer + torch.arange(len(v), device=v.device)) % len(memory)] = v.to(memory.dtype)
            else:
                memory[indices] = F.normalize(self.momentum * memory[indices] + (1 - self.momentum) * v, dim=1)
        if indices is None:
            self.pointer.copy_((self.pointer + min(len(v_s), len(self.student))) % len(self.student))

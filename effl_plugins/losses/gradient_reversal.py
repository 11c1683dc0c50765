"""Gradient reversal (Ganin & Lempitsky ICML 2015, "Unsupervised Domain Adaptation by
Backpropagation"): the identity forward, the gradient times ``-weight`` backward. CTKD (``ctkd.py``)
learns its temperature through it, so that the temperature maximises what the student minimises.
"""

from __future__ import annotations

import torch

__all__ = ["GradientReversal"]


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``-weight``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.weight * grad, None

"""Float64 building blocks for the loss references, written out from their definitions."""

from __future__ import annotations

import torch


def log_softmax64(z: torch.Tensor) -> torch.Tensor:
    z = z.double()
    m = z.max(-1, keepdim=True).values
    return z - m - torch.log(torch.exp(z - m).sum(-1, keepdim=True))


def kl64(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``mean_b sum_k p (log p - log q)``."""
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def ce64(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -log_softmax64(s).gather(1, y[:, None]).mean()


def inputs(seed: int, batch: int, classes: int, scale: float = 3.0):
    """Student (requires grad), its float64 twin (requires grad), teacher, labels."""
    g = torch.Generator().manual_seed(seed)
    s = (torch.randn(batch, classes, generator=g) * scale).requires_grad_(True)
    t = torch.randn(batch, classes, generator=g) * scale
    y = torch.randint(0, classes, (batch,), generator=g)
    return s, s.detach().double().requires_grad_(True), t, y


def assert_matches(out: torch.Tensor, ref: torch.Tensor, pairs, rtol=1e-4, atol=1e-5) -> None:
    """Value, then the gradient of each ``(tensor, float64 twin)`` pair."""
    torch.testing.assert_close(out.double(), ref, rtol=rtol, atol=atol)
    out.backward()
    ref.backward()
    for x, x64 in pairs:
        torch.testing.assert_close(x.grad.double(), x64.grad, rtol=rtol, atol=atol)

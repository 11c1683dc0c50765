"""What a strategy is: a recipe that trains (and may label, distill, self-train) on a DataBundle.

Every strategy accepts the shared keyword arguments ``model`` (a timm ``NAME[:CKPT]``),
``epochs``, ``batch_size``, ``lr``, ``seed`` and ``device`` (and the engine's ``opt``, ``sched``, ``amp``,
``clip_grad``, ``ema_decay``, ``progress``), plus its own, and implements::

    run(data: DataBundle, *, out_dir=None, resume=False) -> dict

The returned summary holds at least ``best_accuracy`` and ``final_accuracy`` (in [0, 1]) and
``epochs``; with ``out_dir`` it is also written to ``out_dir/summary.json``.
"""

from __future__ import annotations

import os
from typing import Any

from ..data import DataBundle
from ..engine import TrainConfig

__all__ = ["Strategy"]


class Strategy:
    """Base class of strategies: holds the shared configuration."""

    def __init__(self, model: str = "test_resnet", epochs: int = 10, batch_size: int = 64, lr: float = 1e-3,
                 weight_decay: float = 0.0, seed: int = 0, device: str = "cpu", *, opt: str = "adamw", sched: str = "cosine",
                 amp: str = "auto", clip_grad: float | None = None, ema_decay: float | None = None, progress: bool = True):
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a timm model name or 'NAME:CHECKPOINT', got {model!r}")
        self.model = model
        self.config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed, device=device,
                                  opt=opt, sched=sched, amp=amp, clip_grad=clip_grad, ema_decay=ema_decay, progress=progress)

    def run(self, data: DataBundle, *, out_dir: str | os.PathLike | None = None, resume: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, {self.config})"

"""Distillation and student losses; build them with ``effl_plugins.create_loss``.

Non-finite inputs, one rule for every loss (``base.check_finite``; details in ``base``'s docstring):
NaN anywhere in the logits or features is a ValueError naming the argument, the number of NaN entries
and the loss (a NaN means a model diverged); so is ``+inf`` anywhere, and ``-inf`` anywhere but in the
teacher logits. A ``-inf`` teacher logit is a masked class, probability 0: the losses whose teacher
enters through its softmax (``kd``, ``soft_target_ce``, ``dkd``, ``nkd``, ``dist``, ``ctkd``, and the KD
part of the feature losses) compute it exactly, ``0 log 0 = 0``, value and gradient; ``mse_logits``,
``logit_std_kd``, and ``rkd`` / ``pkt`` on logits as embeddings, refuse it with the same ValueError.

The names below import their module on first access, so that importing this package (as the plugin
entry point does) loads neither torch nor any loss.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "AttentionTransferLoss": "attention_transfer",
    "DistillationLoss": "base",
    "FeatureDistillationLoss": "base",
    "CRDLoss": "crd",
    "CTKDLoss": "ctkd",
    "DISTLoss": "dist",
    "DKDLoss": "dkd",
    "FitNetLoss": "fitnet",
    "kd_divergence": "functional",
    "KDLoss": "kd",
    "LogitStdKDLoss": "logit_std_kd",
    "MSELogitsLoss": "mse_logits",
    "NKDLoss": "nkd",
    "PKTLoss": "pkt",
    "ReviewKDLoss": "review_kd",
    "RKDLoss": "rkd",
    "SoftTargetCELoss": "soft_target_ce",
    "SPLoss": "sp",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

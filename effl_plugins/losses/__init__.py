"""Distillation and student losses; build them with ``effl_plugins.create_loss``. The call convention,
input checks and the non-finite rule (``-inf`` teacher logits as masked classes) are ``base``'s.

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

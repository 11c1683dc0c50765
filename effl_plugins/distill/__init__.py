"""Distillation and student losses; build them with ``effl_plugins.create_loss``."""

from .base import DistillationLoss
from .kd import KDLoss, kd_divergence

__all__ = ["DistillationLoss", "KDLoss", "kd_divergence"]

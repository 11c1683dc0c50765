"""Distillation and student losses; build them with ``effl_plugins.create_loss``."""

from .attention_transfer import AttentionTransferLoss
from .base import DistillationLoss, FeatureDistillationLoss
from .crd import CRDLoss
from .ctkd import CTKDLoss
from .dist import DISTLoss
from .dkd import DKDLoss
from .fitnet import FitNetLoss
from .functional import kd_divergence
from .kd import KDLoss
from .logit_std_kd import LogitStdKDLoss
from .mse_logits import MSELogitsLoss
from .nkd import NKDLoss
from .pkt import PKTLoss
from .review_kd import ReviewKDLoss
from .rkd import RKDLoss
from .soft_target_ce import SoftTargetCELoss
from .sp import SPLoss

__all__ = [
    "AttentionTransferLoss",
    "DISTLoss",
    "DKDLoss",
    "DistillationLoss",
    "FeatureDistillationLoss",
    "FitNetLoss",
    "KDLoss",
    "LogitStdKDLoss",
    "MSELogitsLoss",
    "SoftTargetCELoss",
    "kd_divergence",
    "CRDLoss",
    "CTKDLoss",
    "NKDLoss",
    "PKTLoss",
    "RKDLoss",
    "ReviewKDLoss",
    "SPLoss",
]

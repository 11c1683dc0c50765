"""Built-in distillation losses, registered through the ``effl_plugins`` entry point."""

from __future__ import annotations

from ..hookspecs import hookimpl
from .attention_transfer import AttentionTransferLoss
from .crd import CRDLoss
from .ctkd import CTKDLoss
from .dist import DISTLoss
from .dkd import DKDLoss
from .fitnet import FitNetLoss
from .kd import KDLoss
from .logit_std_kd import LogitStdKDLoss
from .mse_logits import MSELogitsLoss
from .nkd import NKDLoss
from .pkt import PKTLoss
from .review_kd import ReviewKDLoss
from .rkd import RKDLoss
from .soft_target_ce import SoftTargetCELoss
from .sp import SPLoss


@hookimpl
def register_losses(register):
    register("kd", KDLoss)
    register("soft_target_ce", SoftTargetCELoss)
    register("dkd", DKDLoss)
    register("dist", DISTLoss)
    register("logit_std_kd", LogitStdKDLoss)
    register("fitnet", FitNetLoss)
    register("attention_transfer", AttentionTransferLoss)
    register("mse_logits", MSELogitsLoss)
    register("rkd", RKDLoss)
    register("pkt", PKTLoss)
    register("sp", SPLoss)
    register("crd", CRDLoss)
    register("nkd", NKDLoss)
    register("ctkd", CTKDLoss)
    register("review_kd", ReviewKDLoss)

"""Built-in distillation losses, registered through the ``effl_plugins`` entry point.

Each loss is named by an import string, so that listing the registry imports none of them (nor torch).
"""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_losses(register):
    register("kd", "effl_plugins.losses.kd:KDLoss")
    register("soft_target_ce", "effl_plugins.losses.soft_target_ce:SoftTargetCELoss")
    register("dkd", "effl_plugins.losses.dkd:DKDLoss")
    register("dist", "effl_plugins.losses.dist:DISTLoss")
    register("logit_std_kd", "effl_plugins.losses.logit_std_kd:LogitStdKDLoss")
    register("fitnet", "effl_plugins.losses.fitnet:FitNetLoss")
    register("attention_transfer", "effl_plugins.losses.attention_transfer:AttentionTransferLoss")
    register("mse_logits", "effl_plugins.losses.mse_logits:MSELogitsLoss")
    register("rkd", "effl_plugins.losses.rkd:RKDLoss")
    register("pkt", "effl_plugins.losses.pkt:PKTLoss")
    register("sp", "effl_plugins.losses.sp:SPLoss")
    register("crd", "effl_plugins.losses.crd:CRDLoss")
    register("nkd", "effl_plugins.losses.nkd:NKDLoss")
    register("ctkd", "effl_plugins.losses.ctkd:CTKDLoss")
    register("review_kd", "effl_plugins.losses.review_kd:ReviewKDLoss")

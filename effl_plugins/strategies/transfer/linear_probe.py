"""Linear probing: freeze a (pretrained) backbone, BatchNorm statistics included, and train a new
head only (Kornblith et al. 2019, "Do Better ImageNet Models Transfer Better?")."""

from __future__ import annotations

from typing import Any

from ..base import Strategy
from .param_groups import freeze_backbone, head_parameters, reset_head

__all__ = ["LinearProbe"]


class LinearProbe(Strategy):
    """Train only a fresh ``num_classes`` head on a frozen timm backbone.

    Args:
        model: timm ``NAME[:CKPT]``; the checkpoint supplies the backbone weights.
        lr: learning rate of the head (default 1e-2).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    name = "linear_probe"
    takes_aug_splits = True  # one SupervisedTask: timm's augmentation splits and JSD loss
    #: Arguments of the conformance checks (effl_plugins.testing): a randomly initialised backbone whose
    #: frozen features a head can separate in a few steps (a ViT, no BatchNorm statistics to freeze).
    conformance_kwargs = {"model": "test_vit"}
    refused_settings = {
        "layer_decay": "trains the head alone: there are no backbone layers to decay; use --strategy finetune"
    }

    def __init__(self, model: str = "test_resnet", lr: float = 1e-2, **kwargs: Any):
        super().__init__(model=model, lr=lr, **kwargs)

    def build(self, num_classes: int):
        model = reset_head(self.build_model(self.model, num_classes), num_classes)
        return freeze_backbone(model)

    def run(self, data, *, out_dir=None, device=None, resume=False) -> dict[str, Any]:
        self.with_device(device)
        model = self.build(data.num_classes)
        task = self.supervised_task(model, data)
        groups = [{"params": head_parameters(model)}]
        engine = self.engine(task, data, out_dir, param_groups=groups, write_summary=False)
        return self.finish(model, engine.fit(resume=resume), out_dir)

"""Full fine-tuning with discriminative learning rates: the (pretrained) backbone learns slowly, the
new head fast (Howard & Ruder 2018, "Universal Language Model Fine-tuning"), optionally with timm
layer-wise decay and gradual unfreezing."""

from __future__ import annotations

from typing import Any

from ..._validate import integer, number, positive
from ..base import Strategy
from .param_groups import discriminative_param_groups, layer_decay_param_groups, reset_head, unfreeze_schedule

__all__ = ["Finetune"]


class Finetune(Strategy):
    """Train the whole timm model on the labeled data.

    Args:
        model: timm ``NAME[:CKPT]``; the checkpoint supplies the starting weights.
        lr: the head's learning rate (``head_lr`` overrides it).
        backbone_lr: the backbone's learning rate (default ``lr / 10``).
        layer_decay: timm layer-wise decay in (0, 1] through the model's ``group_matcher`` (deeper
            layers keep more of ``backbone_lr``); None for one backbone rate.
        unfreeze_epochs: gradual unfreezing over this many epochs (None: all layers from the start).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    name = "finetune"
    takes_aug_splits = True  # one SupervisedTask: timm's augmentation splits and JSD loss

    def __init__(
        self,
        model: str = "test_resnet",
        lr: float = 1e-3,
        backbone_lr: float | None = None,
        head_lr: float | None = None,
        layer_decay: float | None = None,
        unfreeze_epochs: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(model=model, lr=lr, **kwargs)
        self.head_lr = float(head_lr if head_lr is not None else lr)
        self.backbone_lr = float(backbone_lr if backbone_lr is not None else self.head_lr / 10)
        for name, value in (("head_lr", self.head_lr), ("backbone_lr", self.backbone_lr)):
            positive(value, name)
        if layer_decay is not None:
            number(layer_decay, "layer_decay", low=0, high=1, low_open=True, note="or None")
        integer(unfreeze_epochs, "unfreeze_epochs", low=1, optional=True)
        self.layer_decay, self.unfreeze_epochs = layer_decay, unfreeze_epochs

    def run_identity_keys(self) -> tuple[str, ...]:
        return ("backbone_lr", "head_lr", "layer_decay", "unfreeze_epochs")

    def build(self, num_classes: int):
        return reset_head(self.build_model(self.model, num_classes), num_classes)

    def param_groups(self, model) -> list[dict]:
        wd = self.config.weight_decay
        if self.layer_decay is not None:
            return layer_decay_param_groups(model, self.backbone_lr, self.head_lr, self.layer_decay, wd)
        return discriminative_param_groups(model, self.backbone_lr, self.head_lr, wd)

    def run(self, data, *, out_dir=None, device=None, resume=False) -> dict[str, Any]:
        self.with_device(device)
        model = self.build(data.num_classes)
        callback = unfreeze_schedule(model, self.unfreeze_epochs) if self.unfreeze_epochs else None
        task = self.supervised_task(model, data)
        self.run_args = {**self.run_args, **self.run_identity()}
        groups = self.param_groups(model)
        engine = self.engine(task, data, out_dir, param_groups=groups, on_epoch_start=callback, write_summary=False)
        return self.finish(model, engine.fit(resume=resume), out_dir)

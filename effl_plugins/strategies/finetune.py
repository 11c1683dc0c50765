"""Full fine-tuning with discriminative learning rates: the (pretrained) backbone learns slowly, the
new head fast (the seeds' second transfer-learning approach; Howard & Ruder 2018, "Universal
Language Model Fine-tuning"), optionally with timm layer-wise decay and gradual unfreezing."""

from __future__ import annotations

import torch

from ..engine import fit, seed_everything
from ..finetune import discriminative_param_groups, layer_decay_param_groups, reset_head, unfreeze_schedule
from ..models import create_model
from .base import Strategy

__all__ = ["Finetune"]


class Finetune(Strategy):
    """Train the whole timm model on the labeled data.

    Args:
        model: timm ``NAME[:CKPT]``; the checkpoint supplies the starting weights.
        lr: the head's learning rate (``head_lr`` overrides it).
        backbone_lr: the backbone's learning rate (default ``lr / 10``).
        layer_decay: timm layer-wise decay in (0, 1] through the model's ``group_matcher``
            (deeper layers keep more of ``backbone_lr``); None for one backbone rate.
        unfreeze_epochs: gradual unfreezing over this many epochs (None: all layers from the start).
        epochs, batch_size, weight_decay, seed, device and the engine options: as in ``Strategy``.
    """

    def __init__(self, model: str = "test_resnet", epochs: int = 10, lr: float = 1e-3, backbone_lr: float | None = None,
                 head_lr: float | None = None, layer_decay: float | None = None, unfreeze_epochs: int | None = None, **kwargs):
        super().__init__(model=model, epochs=epochs, lr=lr, **kwargs)
        self.head_lr = float(head_lr if head_lr is not None else lr)
        self.backbone_lr = float(backbone_lr if backbone_lr is not None else self.head_lr / 10)
        for name, value in (("head_lr", self.head_lr), ("backbone_lr", self.backbone_lr)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if layer_decay is not None and not 0 < layer_decay <= 1:
            raise ValueError(f"layer_decay must be None or in (0, 1], got {layer_decay!r}")
        if unfreeze_epochs is not None and (isinstance(unfreeze_epochs, bool) or not isinstance(unfreeze_epochs, int) or unfreeze_epochs < 1):
            raise ValueError(f"unfreeze_epochs must be None or an integer >= 1, got {unfreeze_epochs!r}")
        self.layer_decay, self.unfreeze_epochs = layer_decay, unfreeze_epochs

    def build(self, num_classes: int) -> torch.nn.Module:
        seed_everything(self.config.seed)
        return reset_head(create_model(self.model, num_classes), num_classes)

    def param_groups(self, model: torch.nn.Module) -> list[dict]:
        wd = self.config.weight_decay
        if self.layer_decay is not None:
            return layer_decay_param_groups(model, self.backbone_lr, self.head_lr, self.layer_decay, wd)
        return discriminative_param_groups(model, self.backbone_lr, self.head_lr, wd)

    def run(self, data, *, out_dir=None, resume=False):
        model = self.build(data.num_classes)
        groups = self.param_groups(model)
        callback = unfreeze_schedule(model, self.unfreeze_epochs) if self.unfreeze_epochs else None
        summary = fit(model, data.labeled, data.test, None, self.config, out_dir, resume=resume,
                      param_groups=groups, on_epoch_start=callback)
        self.trained_model = model
        return {"strategy": "finetune", **summary}

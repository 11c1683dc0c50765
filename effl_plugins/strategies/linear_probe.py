"""Linear probing: freeze a (pretrained) backbone, BatchNorm statistics included, and train a new
head only (the seeds' first transfer-learning approach; Kornblith et al. 2019, "Do Better ImageNet
Models Transfer Better?")."""

from __future__ import annotations

import torch

from ..engine import fit, seed_everything
from ..finetune import freeze_backbone, head_parameters, reset_head
from ..models import create_model
from .base import Strategy

__all__ = ["LinearProbe"]


class LinearProbe(Strategy):
    """Train only a fresh ``num_classes`` head on a frozen timm backbone.

    Args:
        model: timm ``NAME[:CKPT]``; the checkpoint supplies the backbone weights.
        lr: learning rate of the head (timm optimizer ``opt``, AdamW by default).
        epochs, batch_size, weight_decay, seed, device: as in ``Strategy``.
    """

    def __init__(self, model: str = "test_resnet", epochs: int = 10, lr: float = 1e-2, **kwargs):
        super().__init__(model=model, epochs=epochs, lr=lr, **kwargs)

    def build(self, num_classes: int) -> torch.nn.Module:
        seed_everything(self.config.seed)
        model = reset_head(create_model(self.model, num_classes), num_classes)
        return freeze_backbone(model)

    def run(self, data, *, out_dir=None, resume=False):
        model = self.build(data.num_classes)
        summary = fit(model, data.labeled, data.test, None, self.config, out_dir, resume=resume,
                      param_groups=[{"params": head_parameters(model)}])
        self.trained_model = model
        return {"strategy": "linear_probe", **summary}

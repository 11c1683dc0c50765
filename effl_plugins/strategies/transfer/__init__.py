"""Transfer learning: a pretrained timm model on new classes. ``linear_probe`` trains the head of a frozen
backbone, ``finetune`` the whole model with discriminative learning rates; ``param_groups`` holds what both use
(a new head, freezing and unfreezing, parameter groups)."""

from .finetune import Finetune
from .linear_probe import LinearProbe

__all__ = ["Finetune", "LinearProbe"]

"""Transfer learning: a pretrained timm model on new classes. ``linear_probe`` trains the head of a frozen
backbone, ``finetune`` the whole model with discriminative learning rates; ``heads`` holds what both use (new
heads, freezing, parameter groups)."""

from .finetune import Finetune
from .linear_probe import LinearProbe

__all__ = ["Finetune", "LinearProbe"]

"""Which parameters of a transfer-learning model train, and at what rate: a new head, a frozen backbone,
discriminative or layer-decayed learning rates, and gradual unfreezing."""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn

from ..._validate import integer

__all__ = ["reset_head", "head_parameters", "freeze_backbone", "FrozenBatchNormMode", "discriminative_param_groups"]


def reset_head(model: nn.Module, num_classes: int) -> nn.Module:
    """A freshly initialised ``num_classes`` head via timm's ``reset_classifier``."""
    if not hasattr(model, "reset_classifier"):
        raise TypeError(f"model {type(model).__name__} has no reset_classifier(); pass a timm model")
    model.reset_classifier(num_classes)
    return model


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The classifier's parameters (``model.get_classifier()``)."""
    head = model.get_classifier()
    return list(head.parameters()) if isinstance(head, nn.Module) else []


def backbone_parameters(model: nn.Module) -> Iterator[nn.Parameter]:
    head = {id(p) for p in head_parameters(model)}
    return (p for p in model.parameters() if id(p) not in head)


class FrozenBatchNormMode:
    """Keeps the backbone's BatchNorm layers in eval mode (statistics frozen) whatever ``model.train()`` says."""

    def __init__(self, model: nn.Module):
        head = model.get_classifier()
        head = {id(m) for m in head.modules()} if isinstance(head, nn.Module) else set()
        norms = (m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase))
        self.norms = [m for m in norms if id(m) not in head]

    def __call__(self, module: nn.Module, args) -> None:
        for norm in self.norms:
            norm.eval()


def freeze_backbone(model: nn.Module) -> nn.Module:
    """Freeze everything but the head: ``requires_grad=False`` and BatchNorm statistics fixed (a forward
    pre-hook puts them back in eval mode, whatever a later ``model.train()`` says)."""
    for param in backbone_parameters(model):
        param.requires_grad_(False)
    if not getattr(model, "_effl_bn_frozen", False):
        model.register_forward_pre_hook(FrozenBatchNormMode(model))
        model._effl_bn_frozen = True
    return model


def discriminative_param_groups(
    model: nn.Module, backbone_lr: float, head_lr: float, weight_decay: float = 0.0
) -> list[dict]:
    """Two optimizer groups: the backbone at ``backbone_lr`` and the head at ``head_lr``."""
    for name, value in (("backbone_lr", backbone_lr), ("head_lr", head_lr)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
    backbone = [p for p in backbone_parameters(model) if p.requires_grad]
    head = [p for p in head_parameters(model) if p.requires_grad]
    groups = [{"params": backbone, "lr": backbone_lr, "weight_decay": weight_decay, "name": "backbone"}]
    groups.append({"params": head, "lr": head_lr, "weight_decay": weight_decay, "name": "head"})
    return [g for g in groups if g["params"]]


def layer_decay_param_groups(
    model: nn.Module, backbone_lr: float, head_lr: float, layer_decay: float, weight_decay: float = 0.0
) -> list[dict]:
    """timm layer-wise decay (BEiT, Bao et al. 2022) on the backbone, layer ``i`` of ``n`` at
    ``backbone_lr · layer_decay^(n − i)``; the head at ``head_lr``. Each group's ``lr`` is explicit (timm's
    ``lr_scale`` folded in and dropped, so a scheduler does not apply it twice).
    """
    from timm.optim import param_groups_layer_decay

    if not 0 < layer_decay <= 1:
        raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay!r}")
    discriminative_param_groups(model, backbone_lr, head_lr)  # validates the learning rates
    head = {id(p) for p in head_parameters(model)}
    groups = []
    for group in param_groups_layer_decay(model, weight_decay=weight_decay, layer_decay=layer_decay):
        scale = group.pop("lr_scale", 1.0)
        backbone = [p for p in group["params"] if id(p) not in head and p.requires_grad]
        heads = [p for p in group["params"] if id(p) in head and p.requires_grad]
        if backbone:
            groups.append(
                {**group, "params": backbone, "lr": backbone_lr * scale, "layer_scale": scale, "name": "backbone"}
            )
        if heads:
            groups.append({**group, "params": heads, "lr": head_lr, "layer_scale": 1.0, "name": "head"})
    return groups


def backbone_layers(model: nn.Module) -> list[list[nn.Parameter]]:
    """The backbone's parameters by depth (timm ``group_matcher``, coarse), input side first."""
    from timm.models import group_parameters

    head = {id(p) for p in head_parameters(model)}
    if hasattr(model, "group_matcher"):
        grouped = group_parameters(model, model.group_matcher(coarse=True))
        named = dict(model.named_parameters())
        layers = [[named[n] for n in names if id(named[n]) not in head] for _, names in sorted(grouped.items())]
    else:
        layers = [[p] for p in backbone_parameters(model)]
    return [layer for layer in layers if layer]


def unfreeze_schedule(model: nn.Module, unfreeze_epochs: int):
    """Gradual unfreezing (ULMFiT, Howard & Ruder 2018): ``callback(epoch)`` trains the head alone at epoch
    0, thaws the backbone's layers from the top down over ``unfreeze_epochs`` epochs, then trains all."""
    integer(unfreeze_epochs, "unfreeze_epochs", low=1)
    layers = backbone_layers(model)

    def set_trainable(epoch: int) -> None:
        thawed = len(layers) if epoch >= unfreeze_epochs else (len(layers) * epoch) // unfreeze_epochs
        for depth, layer in enumerate(layers):
            for param in layer:
                param.requires_grad_(depth >= len(layers) - thawed)

    return set_trainable

"""finetune / linear_probe on six timm architecture families: the right parameters in the right
groups, and one real training step that moves exactly the trainable ones."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F

import effl_plugins as ep
from effl_plugins.strategies.transfer.param_groups import (
    backbone_layers,
    head_parameters,
    layer_decay_param_groups,
    unfreeze_schedule,
)

FAMILIES = ["test_resnet", "test_efficientnet", "test_vit", "mobilenetv3_small_050", "test_convnext", "regnetx_002"]


def _step(model, groups):
    optimizer = torch.optim.SGD(groups, lr=0.1)
    x, y = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.train()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p)}


@pytest.mark.parametrize("name", FAMILIES)
def test_finetune_groups_and_step(name):
    strategy = ep.create_strategy("finetune", model=name, lr=1e-2, backbone_lr=1e-4)
    model = strategy.build(num_classes=5)
    groups = strategy.param_groups(model)
    head = {id(p) for p in head_parameters(model)}
    assert head and {g["name"]: g["lr"] for g in groups} == {"backbone": 1e-4, "head": 1e-2}
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters()), "every parameter exactly once"
    assert {id(p) for g in groups if g["name"] == "head" for p in g["params"]} == head
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    changed = _step(model, groups)
    assert len(changed) > len(head), f"{name}: the backbone must learn too"


@pytest.mark.parametrize("name", FAMILIES)
def test_linear_probe_step_moves_the_head_only(name):
    model = ep.create_strategy("linear_probe", model=name).build(num_classes=5)
    head_names = {n for n, p in model.named_parameters() if any(p is h for h in head_parameters(model))}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    changed = _step(model, [{"params": head_parameters(model)}])
    assert changed == head_names
    assert all(torch.equal(buffers[n], b) for n, b in model.named_buffers()), f"{name}: BatchNorm statistics moved"


@pytest.mark.parametrize("name", ["test_vit", "test_resnet", "test_convnext"])
def test_layer_decay_scales_backbone_rates_by_depth(name):
    model = timm.create_model(name, num_classes=3)
    groups = layer_decay_param_groups(model, backbone_lr=1e-3, head_lr=1e-2, layer_decay=0.5)
    backbone = [g for g in groups if g["name"] == "backbone"]
    scales = sorted({g["layer_scale"] for g in backbone})
    assert len(scales) >= 3 and scales[-1] <= 1.0
    for g in backbone:
        assert g["lr"] == pytest.approx(1e-3 * g["layer_scale"]) and "lr_scale" not in g
    assert all(g["lr"] == 1e-2 for g in groups if g["name"] == "head")
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    with pytest.raises(ValueError, match="layer_decay must be in"):
        layer_decay_param_groups(model, 1e-3, 1e-2, layer_decay=1.5)


def test_gradual_unfreezing_thaws_top_down():
    model = timm.create_model("test_resnet", num_classes=3)
    layers = backbone_layers(model)
    schedule = unfreeze_schedule(model, unfreeze_epochs=2)
    schedule(0)
    assert not any(p.requires_grad for layer in layers for p in layer)
    assert all(p.requires_grad for p in head_parameters(model))
    schedule(1)
    frozen = [all(not p.requires_grad for p in layer) for layer in layers]
    assert frozen[0] and not frozen[-1] and frozen == sorted(frozen, reverse=True)
    schedule(2)
    assert all(p.requires_grad for p in model.parameters())


def test_finetune_run_with_unfreezing_and_layer_decay(tmp_path):
    from effl_plugins.testing import small_digits

    data = small_digits(labeled=20, test=20)
    strategy = ep.create_strategy(
        "finetune", model="test_resnet", epochs=2, batch_size=10, layer_decay=0.7, unfreeze_epochs=1
    )
    summary = strategy.run(data, out_dir=tmp_path)
    assert summary["epochs"] == 2 and (tmp_path / "checkpoint.pt").is_file()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backbone_lr": -1.0}, "backbone_lr"),
        ({"layer_decay": 0}, "layer_decay"),
        ({"unfreeze_epochs": 0}, "unfreeze_epochs"),
    ],
)
def test_bad_finetune_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_strategy("finetune", **kwargs)

"""linear_probe: only the new head learns; the backbone, BatchNorm statistics included, stays put."""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep
from effl_plugins.data import load_digits


def test_backbone_and_batchnorm_statistics_stay_frozen():
    strategy = ep.create_strategy("linear_probe", model="test_resnet", epochs=2, lr=0.05)
    data = load_digits(num_labeled=40, num_test=40)
    model = strategy.build(data.num_classes)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    strategy.build = lambda num_classes: model
    summary = strategy.run(data)
    after = model.state_dict()
    head = {k for k in after if k.startswith(model.pretrained_cfg["classifier"] + ".")}
    assert head, "the head must exist"
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    assert changed and changed <= head, f"only head weights may change, also changed: {sorted(changed - head)[:5]}"
    assert {k for k in head if "weight" in k} <= changed
    assert summary["epochs"] == 2 and 0 <= summary["final_accuracy"] <= 1


def test_checkpoint_backbone_is_loaded(tmp_path):
    import timm

    source = timm.create_model("test_resnet", num_classes=7)
    torch.save(source.state_dict(), tmp_path / "teacher.pt")
    model = ep.create_strategy("linear_probe", model=f"test_resnet:{tmp_path / 'teacher.pt'}").build(num_classes=10)
    state = model.state_dict()
    assert torch.equal(state["conv1.0.weight"], source.state_dict()["conv1.0.weight"])
    assert state[model.pretrained_cfg["classifier"] + ".weight"].shape[0] == 10


def test_bad_model_spec_fails_before_training(tmp_path):
    with pytest.raises(ValueError, match="unknown timm model 'resnet_nope'"):
        ep.create_strategy("linear_probe", model="resnet_nope").build(10)
    with pytest.raises(ep.CheckpointError, match="not found"):
        ep.create_strategy("linear_probe", model=f"test_resnet:{tmp_path}/missing.pt").build(10)
    torch.save({"x": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ep.CheckpointError, match="does not fit model"):
        ep.create_strategy("linear_probe", model=f"test_resnet:{tmp_path}/other.pt").build(10)
    with pytest.raises(ValueError, match="epochs"):
        ep.create_strategy("linear_probe", epochs=0)

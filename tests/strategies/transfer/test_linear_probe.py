"""linear_probe: only the new head learns; the backbone, BatchNorm statistics included, stays put."""

from __future__ import annotations

import json

import pytest
import torch

import effl_plugins as ep
from effl_plugins.testing import small_digits


def test_backbone_and_batchnorm_statistics_stay_frozen(tmp_path):
    strategy = ep.create_strategy("linear_probe", model="test_resnet", epochs=2, lr=0.05)
    data = small_digits(labeled=40, test=40)
    model = strategy.build(data.num_classes)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    strategy.build = lambda num_classes: model
    summary = strategy.run(data, out_dir=tmp_path)
    after = model.state_dict()
    head = {k for k in after if k.startswith(model.pretrained_cfg["classifier"] + ".")}
    assert head, "the head must exist"
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    assert changed and changed <= head, f"only head weights may change, also changed: {sorted(changed - head)[:5]}"
    assert {k for k in head if "weight" in k} <= changed
    # a random test_resnet's frozen features (its BatchNorm is what this test is about) do not separate the digits
    # in two epochs, so no margin over chance is asked here; that linear_probe learns is checked by the
    # conformance suite (check_strategy, on test_vit). The summary is the run's last evaluation.
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert summary["epochs"] == 2 and [r["epoch"] for r in rows] == [1, 2]
    assert summary["final_accuracy"] == rows[-1]["eval_top1"]


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

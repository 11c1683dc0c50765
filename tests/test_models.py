"""create_model: NAME[:CKPT] specs, weights-only checkpoints, and a fast clear error with no hub."""

from __future__ import annotations

import pytest
import timm
import torch

from effl_plugins.errors import CheckpointError
from effl_plugins.models import create_model, parse_model_spec


def test_spec_parsing():
    assert parse_model_spec("resnet18") == ("resnet18", None)
    assert str(parse_model_spec("resnet18:/a/b.pt")[1]) == "/a/b.pt"
    with pytest.raises(ValueError, match="empty checkpoint path"):
        parse_model_spec("resnet18:")


def test_pretrained_without_hub_fails_at_once(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="HF_HUB_OFFLINE is set"):
        create_model("test_resnet", 10, pretrained=True)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: refused at once, no retry loop
    with pytest.raises(CheckpointError, match="127.0.0.1:9 is unreachable"):
        create_model("test_resnet", 10, pretrained=True)


def test_checkpoint_keeps_matching_head_and_resets_another(tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("test_resnet", num_classes=10)
    torch.save({"model": source.state_dict(), "epoch": 3}, tmp_path / "ten.pt")
    same = create_model(f"test_resnet:{tmp_path / 'ten.pt'}", 10)
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), same.state_dict().values()))
    other = create_model(f"test_resnet:{tmp_path / 'ten.pt'}", 4)
    assert other.fc.weight.shape == (4, 96) and torch.equal(other.conv1[0].weight, source.conv1[0].weight)


def test_other_architecture_and_unsafe_files_are_refused(tmp_path):
    torch.save(timm.create_model("test_efficientnet", num_classes=10).state_dict(), tmp_path / "eff.pt")
    with pytest.raises(CheckpointError, match="another architecture"):
        create_model(f"test_resnet:{tmp_path / 'eff.pt'}", 10)
    torch.save({"model": {"w": torch.ones(1)}, "code": print}, tmp_path / "code.pt")
    with pytest.raises(CheckpointError, match="weights only"):
        create_model(f"test_resnet:{tmp_path / 'code.pt'}", 10)

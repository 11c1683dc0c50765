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


def test_checkpoint_values_that_would_train_to_nan_or_be_cast_are_refused(tmp_path):
    import timm
    from safetensors.torch import save_file

    from effl_plugins.errors import CheckpointError, EfflError
    from effl_plugins.models import UnknownModelError, create_model

    state = {k: v.clone() for k, v in timm.create_model("test_resnet", num_classes=10).state_dict().items()}
    key = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
    nan = dict(state)
    nan[key] = nan[key].clone()
    nan[key][0, 0, 0, 0] = float("nan")
    save_file(nan, str(tmp_path / "nan.safetensors"))
    with pytest.raises(CheckpointError, match=f"{key!r} holds 1 NaN or infinite values"):
        create_model(f"test_resnet:{tmp_path / 'nan.safetensors'}", 10)
    ints = dict(state)
    ints[key] = ints[key].round().to(torch.int32)
    save_file(ints, str(tmp_path / "int.safetensors"))
    with pytest.raises(CheckpointError, match="holds torch.int32 values where the model expects torch.float32"):
        create_model(f"test_resnet:{tmp_path / 'int.safetensors'}", 10)
    assert issubclass(UnknownModelError, EfflError)

"""Models at the run's input size: a ViT trains and evaluates at a size other than its default (timm builds
it with ``img_size=``, as ``--model-kwargs img_size=N`` does in timm's train.py), and a size a model cannot
take is refused in one line before the run directory is written."""

from __future__ import annotations

import json

import pytest
import torch

from effl_plugins.cli import main
from effl_plugins.models import ModelSizeError, create_model, model_build_kwargs

RUN = ["--data", "digits", "--epochs", "1", "-b", "64", "-j", "0", "--device", "cpu", "--warmup-epochs", "0"]


@pytest.mark.slow
def test_a_vit_finetunes_and_evaluates_at_a_non_default_size(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["finetune", "--model", "test_vit", "--img-size", "48", "--out", str(out), *RUN]) == 0
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert tuple(checkpoint["data_config"]["input_size"]) == (3, 48, 48)
    assert checkpoint["model"]["pos_embed"].shape[1] == 1 + (48 // 16) ** 2  # timm's test_vit: one class token
    capsys.readouterr()
    assert main(["eval", "--model", f"test_vit:{out / 'checkpoint.pt'}", "--data", "digits", "--device", "cpu"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["top1"] <= 1.0


def test_model_kwargs_img_size_is_the_input_size():
    assert model_build_kwargs("test_vit", None, {"img_size": 64}) == {"img_size": 64}
    assert model_build_kwargs("test_vit", 64, None) == {"img_size": 64}
    assert model_build_kwargs("test_vit", 160, None) == {}  # the default size: nothing to pass
    assert model_build_kwargs("test_resnet", 64, None) == {}  # a CNN takes any size as built


def test_a_size_the_model_cannot_take_is_refused_before_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["finetune", "--model", "test_vit", "--img-size", "100", "--out", str(out), *RUN]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--img-size 100: model 'test_vit' cannot take 100x100 input" in err
    assert "its default is 160" in err and not out.exists()


def test_a_fixed_size_model_without_img_size_is_refused(monkeypatch):
    from effl_plugins import models

    real = models._meta_model

    def no_img_size(name, **kwargs):
        if "img_size" in kwargs:
            raise TypeError("__init__() got an unexpected keyword argument 'img_size'")
        return real(name, **kwargs)

    monkeypatch.setattr(models, "_meta_model", no_img_size)
    with pytest.raises(ModelSizeError, match=r"model 'test_vit' takes only 160x160 input .* use --img-size 160"):
        model_build_kwargs("test_vit", 96)


def test_a_keyword_the_model_refuses_is_one_line():
    with pytest.raises(ModelSizeError, match=r"model 'test_vit' cannot be built with --model-kwargs bogus=1: "):
        model_build_kwargs("test_vit", None, {"bogus": 1})


def test_weights_saved_at_the_default_size_load_at_another(tmp_path):
    source = create_model("test_vit", 10)
    torch.save({"model": source.state_dict()}, tmp_path / "vit.pt")
    model = create_model(f"test_vit:{tmp_path / 'vit.pt'}", 10, img_size=64)  # position embeddings resampled
    assert model.pretrained_cfg["input_size"] == (3, 64, 64)
    assert torch.equal(model.head.weight, source.head.weight)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_a_checkpoint_is_built_at_its_saved_size_and_an_initial_checkpoint_at_the_runs(tmp_path):
    from effl_plugins.strategies.transfer.finetune import Finetune

    small = create_model("test_vit", 10, img_size=48)
    record = {"model": small.state_dict(), "data_config": {"input_size": [3, 48, 48]}, "args": {"model": "test_vit"}}
    torch.save(record, tmp_path / "run.pt")
    assert create_model(f"test_vit:{tmp_path / 'run.pt'}", 10).pretrained_cfg["input_size"] == (3, 48, 48)
    initial = str(tmp_path / "run.pt")
    model = Finetune("test_vit", initial_checkpoint=initial).build_model("test_vit", 10)
    assert model.pretrained_cfg["input_size"] == (3, 160, 160)  # the run's size (the model's), weights resampled
    model = Finetune("test_vit", img_size=64, initial_checkpoint=initial).build_model("test_vit", 10)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 10)

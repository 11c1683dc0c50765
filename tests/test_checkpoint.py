"""One reader per checkpoint file: what :class:`Checkpoint` exposes and refuses, and how often the commands
read a checkpoint (``effl eval``, ``effl predict``, the teacher of ``effl distill`` and ``effl pseudo-label``:
once each) and consult the loss registry (``effl distill``: once, where its loss arguments are checked)."""

from __future__ import annotations

import random

import pytest
import timm
import torch

import effl_plugins.checkpoint as checkpoint_module
from effl_plugins._registry import Registry
from effl_plugins.checkpoint import MAX_CLASSES, Checkpoint
from effl_plugins.cli import main
from effl_plugins.data import DataConfig
from effl_plugins.errors import CheckpointError

FAST = ["--epochs", "1", "--warmup-epochs", "0", "--batch-size", "64", "--workers", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An effl-style record of a 10-class ``test_resnet`` at 32 px (weights untrained)."""
    path = tmp_path_factory.mktemp("ckpt") / "model_best.pt"
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=10)
    config = DataConfig((3, 32, 32), "bilinear", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1.0)
    record = {
        "model": model.state_dict(),
        "epoch": 1,
        "arch": "test_resnet",
        "num_classes": 10,
        "class_names": [f"digit{i}" for i in range(10)],
        "data_config": config.to_dict(),
        "args": {"model": "test_resnet", "data": "digits"},
    }
    torch.save(record, path)
    return path


@pytest.fixture
def reads(monkeypatch):
    """The paths :class:`Checkpoint` loads, in order, while the test runs."""
    seen = []
    load = checkpoint_module._load

    def counted(path):
        seen.append(path)
        return load(path)

    monkeypatch.setattr(checkpoint_module, "_load", counted)
    return seen


def test_a_run_record_exposes_weights_arch_classes_and_data_config(trained):
    checkpoint = Checkpoint.read(trained)
    assert checkpoint.arch == "test_resnet" and checkpoint.num_classes == 10
    assert checkpoint.class_names(10)[3] == "digit3"
    assert checkpoint.data_config["input_size"] == [3, 32, 32]
    assert checkpoint.args["data"] == "digits" and checkpoint.training_state()["epoch"] == 1
    assert checkpoint.head_classes("fc") == 10 and checkpoint.head_classes("head") is None
    assert all(isinstance(v, torch.Tensor) for v in checkpoint.state.values())


def test_plain_weights_record_nothing_and_name_classes_by_index(tmp_path):
    from safetensors.torch import save_file

    save_file({"fc.weight": torch.zeros(3, 4)}, tmp_path / "w.safetensors")
    checkpoint = Checkpoint.read(tmp_path / "w.safetensors")
    assert checkpoint.record == {} and checkpoint.arch is None and checkpoint.num_classes is None
    assert checkpoint.data_config is None and checkpoint.args == {}
    assert checkpoint.class_names(3) == ["0", "1", "2"] and checkpoint.head_classes("fc") == 3
    with pytest.raises(CheckpointError, match="not an effl training checkpoint"):
        checkpoint.training_state()


def test_unsafe_unreadable_and_malformed_files_are_refused_naming_the_file(tmp_path):
    torch.save({"model": {}, "hook": random.Random}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt.*as weights only"):
        Checkpoint.read(tmp_path / "evil.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"is empty \(0 bytes\)"):
        Checkpoint.read(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="a directory"):
        Checkpoint.read(tmp_path)
    torch.save({"model": {"w": 1}, "num_classes": MAX_CLASSES + 1, "class_names": ["a"]}, tmp_path / "odd.pt")
    odd = Checkpoint.read(tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="holds no state dict of tensors"):
        assert odd.state is None
    with pytest.raises(CheckpointError, match=f"num_classes={MAX_CLASSES + 1}; expected an int in 1..{MAX_CLASSES}"):
        assert odd.num_classes is None
    with pytest.raises(CheckpointError, match="class_names that are not 2 strings"):
        odd.class_names(2)


def test_eval_reads_the_checkpoint_once(trained, reads, tmp_path):
    spec = f"test_resnet:{trained}"
    argv = ["eval", "--model", spec, "--data", "digits", "--out", str(tmp_path / "eval"), "--workers", "0"]
    assert main([*argv, "--device", "cpu"]) == 0
    assert reads == [trained]


def test_predict_reads_the_checkpoint_once(trained, reads, tmp_path):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    assert main(["predict", "--model", f"test_resnet:{trained}", str(tmp_path / "a.png"), "--device", "cpu"]) == 0
    assert reads == [trained]


def test_pseudo_label_reads_its_teacher_once(trained, reads, tmp_path):
    argv = ["pseudo-label", "--teacher", f"test_resnet:{trained}", "--unlabeled", "digits"]
    assert main([*argv, "--out", str(tmp_path / "store"), "--device", "cpu"]) == 0
    assert reads == [trained]


def test_distill_reads_its_teacher_once_and_looks_its_loss_up_once(trained, reads, tmp_path, monkeypatch):
    lookups = []
    get = Registry.get

    def counted(self, name, backend=None):
        if self.family == "losses":
            lookups.append(name)
        return get(self, name, backend)

    monkeypatch.setattr(Registry, "get", counted)
    argv = ["distill", "--data", "digits", "--teacher", f"test_resnet:{trained}", "--student", "test_resnet"]
    argv += ["--strategy-arg", "use_unlabeled=false", "--img-size", "32", "--out", str(tmp_path / "run")]
    assert main([*argv, *FAST]) == 0
    assert reads == [trained]
    assert lookups == ["kd"]


def test_distill_checks_its_loss_arguments_at_that_lookup_before_anything_is_written(tmp_path, capsys):
    argv = ["distill", "--data", "digits", "--teacher", "test_resnet", "--student", "test_resnet"]
    assert main([*argv, "--loss-arg", "tempreature=2", "--out", str(tmp_path / "run"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("effl distill: error: loss 'kd' got unknown argument(s) 'tempreature' (did you mean")
    assert not (tmp_path / "run").exists()

"""What a run leaves behind: ``args.yaml`` with the data settings as resolved (not the flags' None), no
lock file once the run is over (only the one it made is removed), and a pseudo-label selection that
names its classes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import timm
import torch
import yaml

from effl_plugins import lock
from effl_plugins.cli import main
from effl_plugins.lock import exclusive_lock, lock_holder
from effl_plugins.train.rundir import resolved_data_settings, write_args
from tests.data.helpers import random_image, write_image

RUN = [
    "finetune",
    "--data",
    "digits",
    "--model",
    "test_resnet",
    "--img-size",
    "32",
    "--epochs",
    "1",
    "--warmup-epochs",
    "0",
    "--batch-size",
    "32",
    "--workers",
    "0",
    "--device",
    "cpu",
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ft"
    assert main([*RUN, "--out", str(out)]) == 0
    return out


def test_args_yaml_holds_the_resolved_data_config(finished):
    args = yaml.safe_load((finished / "args.yaml").read_text())
    config = torch.load(finished / "checkpoint.pt", weights_only=True)["data_config"]
    assert args["img_size"] == 32 and args["mean"] == list(config["mean"]) and args["std"] == list(config["std"])
    assert args["interpolation"] == config["interpolation"] and args["crop_pct"] == config["crop_pct"]
    assert None not in (args["mean"], args["std"], args["interpolation"], args["crop_pct"])


def test_write_args_fills_what_the_command_line_left_unset(tmp_path):
    config = {"input_size": [3, 48, 64], "interpolation": "bicubic", "mean": [0.1] * 3, "std": [0.2] * 3}
    given = {"img_size": None, "mean": None, "std": [0.3] * 3, "crop_pct": None}
    write_args(tmp_path, given, {**config, "crop_pct": 1})
    args = yaml.safe_load((tmp_path / "args.yaml").read_text())
    assert args == {  # the command line's std stays
        "img_size": [48, 64],
        "mean": [0.1] * 3,
        "std": [0.3] * 3,
        "crop_pct": 1,
        "interpolation": "bicubic",
    }
    assert resolved_data_settings({"input_size": [3, 32, 32]}) == {"img_size": 32}


def test_a_finished_run_leaves_no_lock_file(finished):
    assert not (finished / "lock").exists()
    assert {"checkpoint.pt", "args.yaml", "summary.json", "written.json"} <= {p.name for p in finished.iterdir()}


def test_a_refused_run_leaves_no_directory(tmp_path, capsys):
    out = tmp_path / "never"
    assert main([*RUN, "--out", str(out), "--resume"]) == 2
    assert not out.exists()


def test_only_the_lock_file_this_process_made_is_removed(tmp_path):
    with exclusive_lock(tmp_path / "made") as path:
        assert lock_holder(path) == os.getpid()
    assert not path.exists()
    (tmp_path / "found").mkdir()
    (tmp_path / "found" / "lock").write_text("")  # a killed holder's: not this process's to delete
    with exclusive_lock(tmp_path / "found") as path:
        pass
    assert path.read_text() == ""


def test_a_writer_that_locked_a_removed_file_locks_the_one_the_path_names(tmp_path, monkeypatch):
    """A writer that opened the lock file just before its holder removed it locks the path's file instead."""
    stale = tmp_path / "stale"
    stale.write_text("")
    real, calls = lock._open_lock_file, []

    def open_removed_first(path):
        calls.append(path)
        if len(calls) == 1:
            fd = os.open(stale, os.O_RDWR)
            os.unlink(stale)  # the file this writer opened is gone from every path
            return fd, False
        return real(path)

    monkeypatch.setattr(lock, "_open_lock_file", open_removed_first)
    with exclusive_lock(tmp_path / "run") as path:
        assert len(calls) == 2 and lock_holder(path) == os.getpid()
    assert not path.exists()


def test_selection_json_names_the_classes(tmp_path, capsys):
    torch.manual_seed(0)
    names = ["cat", "dog", "owl"]
    checkpoint = tmp_path / "teacher.pt"
    model = timm.create_model("test_resnet", num_classes=3)
    torch.save({"model": model.state_dict(), "arch": "test_resnet", "num_classes": 3, "class_names": names}, checkpoint)
    rng = np.random.default_rng(0)
    for i in range(4):
        write_image(tmp_path / "unlabeled" / f"img{i}.png", random_image(rng, 32, 32))
    argv = ["pseudo-label", "--teacher", f"test_resnet:{checkpoint}", "--unlabeled", str(tmp_path / "unlabeled")]
    assert main([*argv, "--out", str(tmp_path / "store"), "--img-size", "32", "--workers", "0", "--device", "cpu"]) == 0
    selection = json.loads((tmp_path / "store" / "selection.json").read_text())
    assert selection["class_names"] == names and len(selection["labels"]) == 4
    assert selection["label_names"] == [names[i] for i in selection["labels"]]
    assert not [p.name for p in (tmp_path / "store").rglob("*lock*")]  # the store's locks went with the run

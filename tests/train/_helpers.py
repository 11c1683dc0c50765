"""Small engine runs shared by the tests of tests/train."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import timm
import torch

from effl_plugins.train import (
    Engine,
    FixMatchTask,
    MeanTeacherTask,
    ModelInput,
    SupervisedTask,
    TrainConfig,
    seed_everything,
)


def model(name: str = "test_resnet", num_classes: int = 10, seed: int = 0, **kwargs) -> torch.nn.Module:
    seed_everything(seed)
    return timm.create_model(name, num_classes=num_classes, **kwargs)


def model_input(data) -> ModelInput:
    return ModelInput.from_config(data.data_config)


def make_task(kind: str, data):
    net = model()
    if kind == "supervised":
        return SupervisedTask(net, model_input(data))
    if kind == "fixmatch":
        return FixMatchTask(net, model_input(data), threshold=0.3, mu=2, strong="brightness(max_delta=0.3)+flip")
    if kind == "mean_teacher":
        return MeanTeacherTask(net, model_input(data), rampup_epochs=1.0, ema_decay=0.9, ema_decay_after=0.95)
    raise ValueError(kind)


def stop_at(task, call: int):
    """SIGTERM this process from inside the task's forward number ``call`` (1-based); the step finishes."""
    calls = [0]
    forward = task.forward

    def forward_and_maybe_stop(batch):
        calls[0] += 1
        if calls[0] == call:
            os.kill(os.getpid(), signal.SIGTERM)
        return forward(batch)

    task.forward = forward_and_maybe_stop
    return task


def engine(task, data, out, config: TrainConfig, **kwargs) -> Engine:
    unlabeled = data.unlabeled if task.unlabeled_ratio else None
    info = {
        "arch": "test_resnet",
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "data_config": data.data_config.to_dict(),
        "args": {"model": "test_resnet", **config.to_dict()},
    }
    return Engine(
        task,
        data.labeled,
        data.test,
        config,
        num_classes=data.num_classes,
        unlabeled_set=unlabeled,
        out_dir=out,
        run_info=info,
        **kwargs,
    )


def records(out: Path, drop=("seconds",)) -> list[dict]:
    """metrics.jsonl, strictly parsed, without the wall-clock fields."""

    def refuse(name):
        raise ValueError(f"metrics.jsonl holds {name}")

    lines = (Path(out) / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line, parse_constant=refuse).items() if k not in drop} for line in lines]


def checkpoint(out: Path, name: str = "checkpoint.pt") -> dict:
    return torch.load(Path(out) / name, map_location="cpu", weights_only=True)


def assert_same_tensors(a: dict, b: dict, where: str = "") -> None:
    assert a.keys() == b.keys(), where
    for key in a:
        assert torch.equal(a[key], b[key]), f"{where}{key} differs"

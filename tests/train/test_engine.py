"""Engine features: settings checks, accumulation, non-finite losses, EMA, the run records."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from effl_plugins.testing import small_digits
from effl_plugins.train import Engine, NonFiniteLossError, SupervisedTask, TrainConfig, evaluate
from effl_plugins.train.engine import _amp_dtype
from effl_plugins.train.inputs import ModelInput
from effl_plugins.train.rundir import CSV_COLUMNS
from tests.tensor_images import TensorImageDataset

from ._helpers import assert_same_tensors, checkpoint, engine, model, model_input, records


@pytest.fixture(scope="module")
def data():
    return small_digits(labeled=32, test=16, unlabeled=8)


def _config(**changes):
    base = dict(epochs=1, batch_size=8, lr=1e-2, seed=0, device="cpu", amp="off", progress=False)
    return TrainConfig(**{**base, **changes})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"amp": "fp8"}, "amp"),
        ({"clip_grad": 0.0}, "clip_grad"),
        ({"lr": 0}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"seed": -1}, "seed"),
        ({"model_ema_decay": 1.5}, "model_ema_decay"),
        ({"grad_accum_steps": 0}, "grad_accum_steps"),
        ({"nonfinite": "ignore"}, "nonfinite"),
        ({"mixup_mode": "row"}, "mixup_mode"),
        ({"cutmix_minmax": (0.5, 0.2)}, "cutmix_minmax"),
        ({"smoothing": 1.5}, "smoothing"),
        ({"workers": -1}, "workers"),
        ({"batch_size": True}, "batch_size"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_amp_is_off_on_cpu_by_default_and_explicit_when_asked():
    cpu = torch.device("cpu")
    assert _amp_dtype("auto", cpu) is None and _amp_dtype("off", cpu) is None
    assert _amp_dtype("bf16", cpu) == torch.bfloat16 and _amp_dtype("fp16", cpu) == torch.float16


def test_evaluate_counts_exactly_and_skips_unlabeled_rows():
    class Fixed(torch.nn.Module):
        def forward(self, x):  # class 1 where the mean input is positive, else class 0
            score = x.mean((1, 2, 3))
            return torch.stack([-score, score, torch.zeros_like(score)], 1)

    images = torch.tensor([255, 0, 255, 0, 255, 0], dtype=torch.uint8).view(6, 1, 1, 1).expand(6, 3, 2, 2)
    dataset = TensorImageDataset(images.contiguous(), torch.tensor([1, 0, 0, 0, 1, -1]))
    result = evaluate(Fixed(), dataset, ModelInput((0.5,) * 3, (0.5,) * 3), batch_size=2)
    assert result["top1"] == pytest.approx(4 / 5) and result["top5"] == 1.0 and result["count"] == 5
    logits = torch.tensor([[-1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [-1.0, 1.0, 0.0]])
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 0, 0, 0, 1]))
    assert result["loss"] == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("images", [32, 24], ids=["whole-groups", "short-last-group"])
def test_gradient_accumulation_equals_one_larger_batch(data, images):
    """Batches of 8 accumulated in twos step as batches of 16; with 24 images the last group holds one
    micro-batch and, as in timm's train.py, its loss is divided by 1, not 2 (8 images, as the last batch of 16)."""
    train = data.labeled if images == 32 else torch.utils.data.Subset(data.labeled, range(images))
    finals = []
    for batch_size, accum in ((16, 1), (8, 2)):
        task = SupervisedTask(model("test_vit", img_size=32), model_input(data))
        config = _config(
            epochs=1, batch_size=batch_size, grad_accum_steps=accum, opt="momentum", momentum=0.0, lr=0.05, sched="none"
        )
        Engine(task, train, data.test, config, num_classes=10).fit()
        finals.append({k: v.detach().clone() for k, v in task.model.state_dict().items()})
    initial = model("test_vit", img_size=32).state_dict()
    assert any(not torch.equal(initial[k], finals[0][k]) for k in initial)
    for key in finals[0]:
        torch.testing.assert_close(finals[1][key], finals[0][key], rtol=1e-4, atol=1e-6, msg=key)


class NanAt(SupervisedTask):
    """A supervised task whose loss is NaN at the listed forward calls; records the weights each call saw."""

    def __init__(self, net, model_input, calls):
        super().__init__(net, model_input)
        self.nan_calls, self.count, self.seen = set(calls), 0, []

    def forward(self, batch):
        self.count += 1
        self.seen.append({k: p.detach().clone() for k, p in self.model.named_parameters()})
        out = super().forward(batch)
        if self.count in self.nan_calls or "all" in self.nan_calls:
            out["loss"] = out["loss"] * float("nan")
        return out


def test_a_non_finite_loss_stops_naming_epoch_and_step(data, tmp_path):
    task = NanAt(model(), model_input(data), calls=[6])  # 32 images at 8: 4 steps an epoch
    with pytest.raises(NonFiniteLossError, match=r"became nan at epoch 2, step 2: lower --lr"):
        engine(task, data, tmp_path, _config(epochs=2)).fit()
    assert len(records(tmp_path)) == 1  # the first epoch was recorded, nothing after


def test_nonfinite_skip_leaves_the_weights_unchanged_on_that_step(data):
    task = NanAt(model(), model_input(data), calls=[2])
    engine(task, data, None, _config(nonfinite="skip")).fit()
    first, second, third, fourth = task.seen
    assert any(not torch.equal(first[k], second[k]) for k in first)  # step 1 updated
    assert_same_tensors(second, third)  # step 2 (NaN) skipped
    assert any(not torch.equal(third[k], fourth[k]) for k in third)  # step 3 updated again
    everything = NanAt(model(), model_input(data), calls=["all"])
    engine(everything, data, None, _config(nonfinite="skip", epochs=2)).fit()
    initial = dict(model().named_parameters())
    assert all(torch.equal(initial[k], p) for k, p in everything.model.named_parameters())


class NanInEval(torch.nn.Module):
    """Trains like its model; evaluates to NaN logits (so eval_loss is NaN)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        out = self.net(x)
        return out if self.training else out * float("nan")


def _strict(name):
    raise ValueError(f"not strict JSON: {name}")


def test_records_are_strict_json_and_summary_csv_has_timms_columns(data, tmp_path):
    task = SupervisedTask(NanInEval(model()), model_input(data))
    engine(task, data, tmp_path, _config(epochs=2)).fit()
    import json

    lines = [json.loads(line, parse_constant=_strict) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and all(r["eval_loss"] is None for r in lines)
    json.loads((tmp_path / "summary.json").read_text(), parse_constant=_strict)
    with open(tmp_path / "summary.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS == ("epoch", "train_loss", "eval_loss", "eval_top1", "eval_top5", "lr")
    assert [r[0] for r in rows[1:]] == ["1", "2"] and all(r[2] == "" for r in rows[1:])
    for row, record in zip(rows[1:], lines):
        assert float(row[1]) == record["train_loss"] and float(row[5]) == record["lr"]
        assert float(row[3]) == record["eval_top1"]


def test_model_ema_adds_ema_accuracy_to_the_records(data, tmp_path):
    engine(SupervisedTask(model(), model_input(data)), data, tmp_path / "ema", _config(model_ema=True)).fit()
    engine(SupervisedTask(model(), model_input(data)), data, tmp_path / "plain", _config()).fit()
    with_ema, plain = records(tmp_path / "ema")[0], records(tmp_path / "plain")[0]
    assert 0.0 <= with_ema["ema_top1"] <= with_ema["ema_top5"] <= 1.0
    # the average moved off the initial weights towards the trained ones (decay 0.9998 keeps it near the start:
    # its accuracy is no measure of learning at this budget)
    saved = checkpoint(tmp_path / "ema")
    initial = model().state_dict()
    weights = [k for k, v in saved["model"].items() if v.is_floating_point() and "running" not in k]
    assert any(not torch.equal(saved["ema"][k], initial[k]) for k in weights)
    assert any(not torch.equal(saved["ema"][k], saved["model"][k]) for k in weights)
    assert "ema_top1" not in plain and checkpoint(tmp_path / "plain")["ema"] == {}
    assert set(checkpoint(tmp_path / "ema")["ema"]) == set(checkpoint(tmp_path / "ema")["model"])


def test_model_best_holds_the_best_epochs_weights_and_the_checkpoints_fields(data, tmp_path):
    after_epoch = []
    task = SupervisedTask(model(), model_input(data))

    def snapshot(epoch):
        after_epoch.append({k: v.detach().clone() for k, v in task.model.state_dict().items()})

    run = engine(task, data, tmp_path, _config(epochs=4, lr=0.05, sched="none"), on_epoch_start=snapshot)
    run.fit()
    snapshot(4)  # after_epoch[e]: the weights after e epochs
    top1 = [r["eval_top1"] for r in records(tmp_path)]
    best_epoch = 1 + top1.index(max(top1))
    assert best_epoch < 4, f"this seed should peak before the last epoch: {top1}"
    best, last = checkpoint(tmp_path, "model_best.pt"), checkpoint(tmp_path)
    assert best["epoch"] == best_epoch and last["epoch"] == 4
    assert_same_tensors(best["model"], after_epoch[best_epoch], "model_best ")
    assert_same_tensors(last["model"], after_epoch[4], "checkpoint ")
    for key in ("arch", "num_classes", "class_names", "data_config", "args"):
        assert best[key] == last[key] and key in last
    assert last["arch"] == "test_resnet" and last["num_classes"] == 10 and len(last["class_names"]) == 10
    assert last["data_config"] == data.data_config.to_dict() and last["args"]["lr"] == 0.05

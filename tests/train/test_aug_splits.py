"""--aug-splits/--jsd-loss: timm's augmentation splits built on the device (view 0 clean) and timm's
JsdCrossEntropy (Hendrycks et al. 2020, "AugMix"); refused where a strategy's task trains on one view."""

from __future__ import annotations

import json

import pytest
import torch
from timm.loss import JsdCrossEntropy

import effl_plugins as ep
from effl_plugins.cli import main
from effl_plugins.testing import small_digits
from effl_plugins.train import Batch, SupervisedTask, TrainConfig
from effl_plugins.train.config import SettingRefusedError
from effl_plugins.train.splits import augmentation_splits

from ._helpers import engine, model, model_input


def test_the_views_stack_view_after_view_with_the_first_clean():
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    targets, labeled = torch.tensor([3, 1, 4, 1]), torch.ones(4, dtype=torch.bool)
    aug = ep.create_augmentation("augmix")
    views, repeated, rows = augmentation_splits(images, targets, labeled, aug, 3, torch.Generator().manual_seed(0))
    assert views.shape == (12, 3, 16, 16) and torch.equal(views[:4], images)
    assert torch.equal(repeated, targets.repeat(3)) and rows.shape == (12,)
    assert not torch.equal(views[4:8], views[8:12])  # each view its own draw
    soft = torch.rand(4, 10)
    assert torch.equal(augmentation_splits(images, soft, labeled, aug, 2)[1], soft.repeat(2, 1))


def test_the_jsd_loss_is_timms_on_the_same_logits():
    data = small_digits(labeled=16, test=8, unlabeled=0)
    net = model()
    task = SupervisedTask(net, model_input(data), smoothing=0.1, jsd_splits=3)
    images = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8)
    targets = (torch.arange(8) % 10).repeat(3)
    batch = Batch(images, targets, torch.ones(24, dtype=torch.bool), labeled_count=24)
    out = task(batch)
    expected = JsdCrossEntropy(num_splits=3, smoothing=0.1)(out["output"].float(), targets)
    assert torch.equal(out["loss"], expected)
    plain = SupervisedTask(net, model_input(data))(batch)["loss"]
    assert not torch.equal(plain, expected)


def test_the_engine_hands_its_task_the_views(tmp_path):
    data = small_digits(labeled=16, test=8, unlabeled=0)
    config = TrainConfig(epochs=1, batch_size=8, aug="augmix-m3-w2-d1", aug_splits=3, jsd_loss=True)
    built = engine(SupervisedTask(model(), model_input(data), jsd_splits=3), data, tmp_path / "run", config)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    batch = built._batch((images, torch.arange(8)), None, torch.Generator().manual_seed(0), torch.arange(8))
    assert batch.images.shape[0] == 24 and torch.equal(batch.images[:8], images)
    assert batch.labeled_count == 24 and torch.equal(batch.targets, torch.arange(8).repeat(3))


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"aug_splits": 1, "aug": "augmix"}, "aug_splits must be 0 (off) or at least 2"),
        ({"aug_splits": 3}, "aug_splits 3 needs aug"),
        ({"jsd_loss": True}, "jsd_loss needs aug_splits of 2 or more"),
        ({"jsd_loss": True, "aug_splits": 2, "aug": "augmix", "mixup": 0.2}, "leave out mixup and cutmix"),
        ({"jsd_loss": True, "aug_splits": 2, "aug": "augmix", "bce_loss": True}, "leave out bce_loss"),
    ],
)
def test_the_config_refuses_what_timm_cannot_mean(settings, words):
    with pytest.raises(ValueError) as info:
        TrainConfig(**settings)
    assert words in str(info.value)


@pytest.mark.parametrize("strategy", ["fixmatch", "distill", "pseudo_label", "mean_teacher"])
def test_strategies_that_train_on_one_view_refuse_the_splits(strategy):
    for setting in ({"aug_splits": 2}, {"aug_splits": 2, "jsd_loss": True}):
        with pytest.raises(SettingRefusedError) as caught:
            ep.create_strategy(strategy, aug="augmix", **setting)
        assert caught.value.setting in ("aug", "aug_splits") and "\n" not in str(caught.value)


def test_finetune_and_linear_probe_take_them():
    for name in ("finetune", "linear_probe"):
        ep.create_strategy(name, aug="augmix", aug_splits=3, jsd_loss=True)


def test_the_cli_refuses_jsd_loss_without_splits_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["finetune", "--data", "digits", "--model", "test_resnet", "--jsd-loss", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "jsd_loss needs aug_splits" in err and not out.exists()


@pytest.mark.slow
def test_a_digits_epoch_with_augmix_splits_and_the_jsd_loss_through_the_cli(tmp_path):
    out = tmp_path / "run"
    words = ["finetune", "--data", "digits", "--model", "test_resnet", "--epochs", "1", "-b", "64", "-j", "0"]
    words += ["--img-size", "32"]  # the digits are 8x8: test_resnet's own 160 px would only cost time
    extra = ["--device", "cpu", "--aug", "augmix-m3-w2-d1", "--aug-splits", "3", "--jsd-loss", "--out", str(out)]
    assert main([*words, *extra]) == 0
    (record,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert record["train_loss"] > 0 and record["epoch"] == 1

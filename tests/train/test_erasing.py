"""--reprob/--remode/--recount: timm's flags, refused values, and the engine erasing the batch the model reads."""

from __future__ import annotations

import argparse

import pytest
import torch

import effl_plugins as ep
from effl_plugins.cli import main
from effl_plugins.commands._train_args import add_training_args
from effl_plugins.testing import small_digits
from effl_plugins.train import TrainConfig
from effl_plugins.train.config import SettingRefusedError
from effl_plugins.train.erasing import BatchErasing, normalisation_of
from effl_plugins.train.inputs import ModelInput

from ._helpers import engine, make_task

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


def test_the_flags_take_timms_defaults():
    args = add_training_args(argparse.ArgumentParser()).parse_args([])
    assert (args.reprob, args.remode, args.recount) == (0.0, "pixel", 1)
    args = add_training_args(argparse.ArgumentParser()).parse_args(["--reprob", "0.25", "--remode", "rand"])
    assert (args.reprob, args.remode) == (0.25, "rand")


@pytest.mark.parametrize(
    ("words", "flag"),
    [(["--reprob", "1.5"], "--reprob"), (["--remode", "zeros"], "--remode"), (["--recount", "0"], "--recount")],
)
def test_bad_values_are_refused_in_one_line(words, flag, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exited:
        main(["finetune", "--data", "digits", "--model", "test_resnet", *words, "--out", str(out)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"argument {flag}" in err
    assert not out.exists()


def test_the_train_config_refuses_bad_values():
    with pytest.raises(ValueError, match="reprob must be in"):
        TrainConfig(reprob=2.0)
    with pytest.raises(ValueError, match="remode must be one of"):
        TrainConfig(remode="zeros")
    with pytest.raises(ValueError, match="recount must be an integer >= 1"):
        TrainConfig(recount=0)


def test_the_normalisation_is_read_back_from_the_model_input():
    mean, std = normalisation_of(ModelInput(MEAN, STD))
    assert torch.allclose(torch.tensor(mean), torch.tensor(MEAN)) and torch.allclose(
        torch.tensor(std), torch.tensor(STD)
    )


@pytest.mark.parametrize("mode", ["const", "rand", "pixel"])
def test_the_model_reads_timms_values_in_the_erased_boxes(mode):
    model_input = ModelInput(MEAN, STD)
    erasing = BatchErasing.from_config(TrainConfig(reprob=1.0, remode=mode, recount=2), model_input)
    images = torch.randint(0, 256, (256, 3, 16, 16), dtype=torch.uint8)
    erased = erasing(images, torch.Generator().manual_seed(0))
    assert erased.dtype == torch.float32 and torch.equal(images, images.clone())
    inside = (erased != images.float() / 255).any(1, keepdim=True).expand_as(erased)
    seen = model_input(erased)[inside]
    if mode == "const":
        assert seen.abs().max() < 1e-5
    else:  # N(0, 1) after normalisation, tails included (no clipping to the image range)
        assert abs(seen.mean()) < 0.1 and abs(seen.std() - 1) < 0.1 and seen.abs().max() > 2.5


def test_off_by_default():
    assert BatchErasing.from_config(TrainConfig(), ModelInput(MEAN, STD)) is None


def test_a_task_that_augments_its_own_views_refuses_reprob():
    with pytest.raises(SettingRefusedError) as caught:
        ep.create_strategy("fixmatch", reprob=0.25)
    assert caught.value.setting == "reprob"


def test_the_engine_erases_the_batch_its_task_reads(tmp_path):
    """reprob 1, const: the batch the task gets (after --aug) holds boxes of zeros once normalised."""
    data = small_digits(labeled=32, test=8, unlabeled=0)
    config = TrainConfig(epochs=1, batch_size=32, reprob=1.0, remode="const", recount=2, aug="flip")
    built = engine(make_task("supervised", data), data, tmp_path / "run", config)
    images = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8)
    targets = torch.arange(32) % 10
    batch = built._batch((images, targets), None, torch.Generator().manual_seed(0), torch.arange(32))
    seen = built.task.model_input(batch.images)
    zeros = (seen.abs() < 1e-5).all(1).float().flatten(1).mean(1)
    assert batch.images.dtype == torch.float32
    assert bool((zeros > 0).all()) and float(zeros.mean()) < 0.5

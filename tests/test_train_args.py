"""timm train.py's flags, defined once: names, defaults, parse-time checks, settings and devices."""

from __future__ import annotations

import pytest
import torch

from effl_plugins.cli import EfflArgumentParser
from effl_plugins.commands._train_args import (
    TRAINING_DESTS,
    add_training_args,
    default_workers,
    resolve_device,
    training_settings,
)

EXPECTED_DESTS = (
    "opt opt_eps momentum weight_decay sched warmup_epochs warmup_lr min_lr epochs batch_size lr amp model_ema "
    "model_ema_decay clip_grad grad_accum_steps drop drop_path smoothing workers pin_mem channels_last "
    "pretrained device seed out resume resume_override checkpoint_interval overwrite img_size mean std "
    "interpolation crop_pct scale "
    "ratio hflip aug image_aug mixup cutmix cutmix_minmax mixup_prob mixup_switch_prob mixup_mode reprob remode "
    "recount aug_splits jsd_loss color_jitter strategy strategy_arg num_classes model_kwargs input_size in_chans "
    "gp drop_block "
    "bn_momentum bn_eps initial_checkpoint torchcompile torchcompile_mode amp_dtype opt_betas layer_decay "
    "decay_epochs decay_milestones decay_rate cooldown_epochs patience_epochs bce_loss experiment opt_kwargs "
    "grad_checkpointing validation_batch_size clip_mode warmup_prefix lr_k_decay lr_noise lr_noise_pct "
    "lr_noise_std vflip mixup_off_epoch log_interval log"
).split()


def parser(**defaults) -> EfflArgumentParser:
    return add_training_args(EfflArgumentParser(prog="effl train"), **defaults)


def parse(*argv: str, **defaults):
    return parser(**defaults).parse_args(list(argv))


def refused(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("effl train: error: "), err  # one line, no usage block
    return err


def test_dests_are_exactly_the_engine_names():
    args = parse()
    assert sorted(TRAINING_DESTS) == sorted(EXPECTED_DESTS)
    assert sorted(set(vars(args)) - {"config"}) == sorted(EXPECTED_DESTS)


def test_timm_defaults():
    settings = training_settings(parse())
    assert settings["opt"] == "adamw" and settings["sched"] == "cosine" and settings["momentum"] == 0.9
    assert settings["weight_decay"] == 2e-5 and settings["warmup_epochs"] == 0 and settings["warmup_lr"] == 1e-5
    assert settings["min_lr"] == 0.0 and settings["epochs"] == 300 and settings["batch_size"] == 128
    assert settings["lr"] is None and settings["opt_eps"] is None and settings["clip_grad"] is None
    assert settings["amp"] == "off" and settings["model_ema"] is False and settings["model_ema_decay"] == 0.9998
    assert settings["grad_accum_steps"] == 1 and settings["drop"] == 0.0 and settings["drop_path"] is None
    assert settings["smoothing"] == 0.1 and settings["workers"] == default_workers() and settings["seed"] == 42
    assert settings["device"] == "auto" and settings["scale"] == (0.08, 1.0) and settings["hflip"] == 0.5
    assert settings["ratio"] == pytest.approx((3 / 4, 4 / 3))
    assert settings["mixup"] == 0.0 and settings["cutmix"] == 0.0 and settings["cutmix_minmax"] is None
    assert settings["mixup_prob"] == 1.0 and settings["mixup_switch_prob"] == 0.5 and settings["mixup_mode"] == "batch"
    assert settings["strategy"] is None and settings["strategy_arg"] == {}
    assert not any(
        settings[k] for k in ("pretrained", "pin_mem", "channels_last", "resume", "resume_override", "overwrite")
    )


def test_command_defaults_override_and_unknown_defaults_are_refused():
    assert parse(epochs=10, batch_size=64).epochs == 10
    with pytest.raises(ValueError, match="epoch"):
        parser(epoch=10)


def test_values_parse_with_timm_names():
    args = parse(
        "--opt",
        "sgd",
        "--lr",
        "0.1",
        "--weight-decay",
        "1e-4",
        "-b",
        "32",
        "--epochs",
        "3",
        "--amp",
        "bf16",
        "--model-ema",
        "--clip-grad",
        "1.0",
        "--mean",
        "0.5",
        "0.5",
        "0.5",
        "--std",
        "0.25",
        "--scale",
        "0.5",
        "1",
        "--cutmix-minmax",
        "0.2",
        "0.8",
        "--strategy",
        "fixmatch",
        "--strategy-arg",
        "threshold=0.95",
        "--strategy-arg",
        "hard=False",
        "--aug",
        "rand-m9-n2-mstd0.5",
        "--device",
        "cuda:1",
        "-j",
        "0",
        "--resume",
        "--resume-override",
    )
    settings = training_settings(args)
    assert (settings["opt"], settings["lr"], settings["weight_decay"], settings["batch_size"]) == ("sgd", 0.1, 1e-4, 32)
    assert settings["amp"] == "bf16" and settings["model_ema"] and settings["clip_grad"] == 1.0
    assert settings["mean"] == (0.5, 0.5, 0.5) and settings["std"] == (0.25,) and settings["scale"] == (0.5, 1.0)
    assert settings["cutmix_minmax"] == (0.2, 0.8) and settings["device"] == "cuda:1" and settings["workers"] == 0
    assert settings["strategy_arg"] == {"threshold": 0.95, "hard": False}
    assert settings["aug"] == "rand-m9-n2-mstd0.5"


def test_bare_amp_means_auto():
    assert parse("--amp").amp == "auto"
    assert parse("--amp", "--epochs", "2").amp == "auto"
    assert parse("--amp", "fp16").amp == "fp16"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--lr", "inf"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "0"], "--lr"),
        (["--lr", "abc"], "--lr"),
        (["--img-size", "0"], "--img-size"),
        (["--epochs", "-1"], "--epochs"),
        (["--batch-size", "2.5"], "--batch-size"),
        (["--device", "gpu"], "--device"),
        (["--device", "cuda:x"], "--device"),
        (["--amp", "yes"], "--amp"),
        (["--hflip", "1.5"], "--hflip"),
        (["--smoothing", "1"], "--smoothing"),
        (["--weight-decay", "-1e-4"], "--weight-decay"),
        (["--scale", "0.9", "0.1"], "--scale"),
        (["--cutmix-minmax", "0.5", "0.5"], "--cutmix-minmax"),
        (["--mean", "0.5", "0.5"], "--mean"),
        (["--std", "0"], "--std"),
        (["--mixup-mode", "row"], "--mixup-mode"),
        (["--strategy-arg", "novalue"], "--strategy-arg"),
        (["--aug", "flip(p=x)"], "--aug"),
        (["--image-aug", "augmix-m5-q1"], "--image-aug"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_flag(capsys, argv, named):
    assert named in refused(capsys, *argv)


def test_cross_flag_checks():
    with pytest.raises(ValueError, match="--resume-override"):
        training_settings(parse("--resume-override"))
    with pytest.raises(ValueError, match="--min-lr"):
        training_settings(parse("--lr", "1e-4", "--min-lr", "1e-3"))
    with pytest.raises(ValueError, match="add_training_args"):
        training_settings(EfflArgumentParser().parse_args([]))


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="--device"):
        resolve_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_resolve_device_without_cuda_is_one_line():
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError) as info:
            resolve_device(name)
        assert str(info.value).startswith(f"--device {name}: CUDA is not available") and "\n" not in str(info.value)

"""--color-jitter: timm's brightness/contrast/saturation factors as brightness, contrast and color in --aug."""

from __future__ import annotations

import pytest
import torch

from effl_plugins.augment.spec import build_augmentation, color_jitter_spec
from effl_plugins.cli import EfflArgumentParser
from effl_plugins.commands._train_args import add_training_args, training_settings


def settings(*argv: str) -> dict:
    return training_settings(add_training_args(EfflArgumentParser(prog="effl train")).parse_args(list(argv)))


def test_off_unless_given():
    assert settings()["aug"] is None and settings()["color_jitter"] is None


def test_one_factor_is_all_three_and_three_are_each():
    assert settings("--color-jitter", "0.4")["aug"] == (
        "brightness(max_delta=0.4, mode='factor')+contrast(max_delta=0.4)+color(max_delta=0.4)"
    )
    assert settings("--color-jitter", "0.1", "0", "0.3")["aug"] == (
        "brightness(max_delta=0.1, mode='factor')+color(max_delta=0.3)"
    )


def test_it_follows_an_aug_without_auto_augment_and_3a():
    assert settings("--aug", "flip", "--color-jitter", "0.2")["aug"].startswith("flip+brightness(max_delta=0.2")
    assert settings("--aug", "3a", "--color-jitter", "0.2")["aug"].startswith("3a+brightness(")


@pytest.mark.parametrize("aug", ["original", "rand-m9-n2", "trivial", "flip+v0"])
def test_after_an_auto_augment_it_is_refused_not_dropped(aug):
    with pytest.raises(ValueError, match="timm applies no colour jitter after an auto-augment"):
        settings("--aug", aug, "--color-jitter", "0.4")


def test_hue_and_bad_factors_are_refused(capsys):
    with pytest.raises(ValueError, match="1 or 3 factors .* hue has no op here"):
        color_jitter_spec([0.4, 0.4, 0.4, 0.1])
    with pytest.raises(SystemExit):
        settings("--color-jitter", "1.5")
    assert "argument --color-jitter" in capsys.readouterr().err


def test_the_factors_are_torchvisions_ranges():
    aug = build_augmentation(color_jitter_spec([0.4]))
    aug(torch.zeros(4000, 3, 2, 2, dtype=torch.uint8), generator=torch.Generator().manual_seed(0))
    for params in (aug.last_params[key] for key in aug.last_params if key.endswith("factor")):
        assert 0.6 <= float(params.min()) < 0.61 and 1.39 < float(params.max()) <= 1.4

"""Every training flag either changes what a strategy trains or is refused before any work.

For each built-in strategy and each of ``--aug --image-aug --mixup --cutmix --smoothing --model-ema
--drop-path``: a refused flag stops the command with one line naming the strategy and what to pass
instead, before the run directory exists (and the library refuses it when the strategy is built);
a flag that takes effect reaches the objects the run is built from (the engine's augmentation,
mixing, EMA, the task's label smoothing, the model's stochastic depth, the loader's per-image
augmentation). The engine is stopped as soon as it is built: nothing trains.
"""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep
from effl_plugins.cli import main
from effl_plugins.plugins import get_manager
from effl_plugins.testing import small_digits
from effl_plugins.train import Engine
from effl_plugins.train.config import SettingRefusedError

FLAGS = ("aug", "image_aug", "mixup", "cutmix", "smoothing", "model_ema", "drop_path")
FIXMATCH_FAMILY = ("fixmatch", "flexmatch", "freematch", "softmatch", "uda")

#: (strategy, setting) -> the words the refusal names (its alternative); every other pair takes effect.
REFUSED = {
    **{(name, "aug"): "--strategy-arg strong=SPEC / weak=SPEC instead of --aug" for name in FIXMATCH_FAMILY},
    **{(name, "mixup"): "leave out --mixup" for name in FIXMATCH_FAMILY},
    **{(name, "cutmix"): "leave out --cutmix" for name in FIXMATCH_FAMILY},
    **{(name, "smoothing"): "plain cross-entropy" for name in FIXMATCH_FAMILY},
    ("mean_teacher", "aug"): "own augmentations",
    ("mean_teacher", "mixup"): "--mixup",
    ("mean_teacher", "cutmix"): "--cutmix",
    ("mean_teacher", "smoothing"): "--smoothing",
    ("noisy_student", "drop_path"): "--strategy-arg drop_path_rate=P",
}

#: A value that turns each flag on: (command-line words, library keyword value).
VALUES = {
    "aug": (["--aug", "brightness(max_delta=0.2)"], "brightness(max_delta=0.2)"),
    "image_aug": (["--image-aug", "brightness(max_delta=0.2)"], None),
    "mixup": (["--mixup", "0.4"], 0.4),
    "cutmix": (["--cutmix", "1.0"], 1.0),
    "smoothing": (["--smoothing", "0.2"], 0.2),
    "model_ema": (["--model-ema"], True),
    "drop_path": (["--drop-path", "0.2"], 0.2),
}

TEACHER_STUDENT = ("pseudo_label", "noisy_student")


def builtin_strategies() -> list[str]:
    registry = get_manager().registry("strategies")
    return [name for name in ep.list_strategies() if registry.get(name).distribution == "effl-plugins"]


CASES = [(name, flag) for name in builtin_strategies() for flag in FLAGS]


def _params(cases):
    return [pytest.param(*case, id="-".join(case)) for case in cases]


def command(name: str) -> list[str]:
    if name in ("finetune", "linear_probe", "distill"):
        return ["finetune", "--data", "digits", "--model", "test_resnet", "--strategy", name]
    return ["self-train", "--data", "digits", "--strategy", name]


class Built(Exception):
    """Raised by the patched engine once it is built: nothing trains."""


@pytest.fixture
def stop_at_engine(monkeypatch):
    """The first Engine built is recorded in the returned list and the run stops there."""
    engines: list[Engine] = []
    build = Engine.__init__

    def record(self, *args, **kwargs):
        build(self, *args, **kwargs)
        engines.append(self)
        raise Built

    monkeypatch.setattr(Engine, "__init__", record)
    return engines


def test_the_table_covers_every_builtin_strategy():
    assert {name for name, _ in REFUSED} <= set(builtin_strategies())
    assert len(builtin_strategies()) == 11


@pytest.mark.parametrize("name, flag", _params(c for c in CASES if c in REFUSED))
def test_refused_on_the_command_line_before_any_work(name, flag, tmp_path, capsys):
    out = tmp_path / "run"
    words, _ = VALUES[flag]
    assert main([*command(name), *words, "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"effl {command(name)[0]}: error: {name} "), err
    assert REFUSED[name, flag] in err
    assert not out.exists()  # no lock, no args.yaml


@pytest.mark.parametrize("name, flag", _params(c for c in CASES if c in REFUSED))
def test_refused_when_the_strategy_is_built(name, flag):
    _, value = VALUES[flag]
    with pytest.raises(SettingRefusedError, match=name) as caught:
        ep.create_strategy(name, **{flag: value})
    assert caught.value.setting == flag and caught.value.who == name


def test_distill_refuses_smoothing_only_without_teacher_training():
    with pytest.raises(SettingRefusedError, match="distill trains no teacher here.*--loss-arg"):
        ep.create_strategy("distill", teacher="test_resnet", teacher_epochs=0, smoothing=0.1)
    ep.create_strategy("distill", teacher="test_resnet", teacher_epochs=1, smoothing=0.1)


def test_an_unset_smoothing_default_is_turned_off_not_refused(tmp_path, stop_at_engine):
    """timm's --smoothing default (0.1) is not a request: a strategy that does not apply it runs with 0."""
    with pytest.raises(Built):
        main(["self-train", "--data", "digits", "--strategy", "fixmatch", "--epochs", "1", "--workers", "0"])
    assert stop_at_engine[0].config.smoothing == 0.0


def test_an_unknown_aug_is_refused_before_the_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    words = ["self-train", "--data", "digits", "--strategy", "pseudo_label", "--aug", "no_such_op"]
    assert main([*words, "--out", str(out)]) == 2
    assert "unknown augmentation 'no_such_op'" in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture(scope="module")
def digits():
    return small_digits(labeled=20, test=20, unlabeled=64)


def _library_kwargs(name: str) -> dict:
    kwargs = {"epochs": 1, "batch_size": 8, "progress": False}
    if name == "distill":
        kwargs["teacher"] = "test_resnet"
    return kwargs


def _drop_path_rate(model: torch.nn.Module) -> float:
    """The deepest block's stochastic-depth rate (timm ramps it linearly up to ``drop_path_rate``)."""
    return max((float(m.drop_prob) for m in model.modules() if type(m).__name__ == "DropPath"), default=0.0)


@pytest.mark.parametrize("name, flag", _params(c for c in CASES if c not in REFUSED and c[1] != "image_aug"))
def test_taken_flag_reaches_the_built_run(name, flag, digits, stop_at_engine):
    _, value = VALUES[flag]
    strategy = ep.create_strategy(name, **_library_kwargs(name), **{flag: value})
    if flag == "drop_path" and name in TEACHER_STUDENT:  # the teacher has none; the student is built so
        assert _drop_path_rate(strategy.build_model(strategy.model, 10)) == pytest.approx(0.2)
        return
    with pytest.raises(Built):
        strategy.run(digits)
    engine = stop_at_engine[0]  # the first run: the teacher's where the strategy trains one
    if flag == "aug":
        assert engine.augment is not None
    elif flag in ("mixup", "cutmix"):
        assert engine.mixing.enabled and getattr(engine.mixing, flag) is not None
    elif flag == "smoothing":
        assert engine.task.smoothing == 0.2
    elif flag == "model_ema":
        assert engine.ema is not None
    elif flag == "drop_path":
        assert _drop_path_rate(engine.task.trainable) == pytest.approx(0.2)


@pytest.mark.parametrize("name", builtin_strategies())
def test_image_aug_reaches_the_loader_transform(name, stop_at_engine):
    words, _ = VALUES["image_aug"]
    with pytest.raises(Built):
        main([*command(name), *words, "--epochs", "1", "--workers", "0", "--batch-size", "8"])
    engine = stop_at_engine[0]
    datasets = [engine.train_set] + ([engine.unlabeled_set] if engine.unlabeled_set is not None else [])
    for dataset in datasets:
        parts = getattr(dataset, "datasets", [dataset])
        assert all(part.transform.image_aug is not None for part in parts)

"""timm train.py's flags, as written down in docs/timm_train_flags.md: each one is accepted (and reaches the
settings), an alias of effl's flag (the same value), or refused in one line naming effl's equivalent; and the
flags effl accepts change what runs (optimizer, schedule, loss, model, run directory)."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import pytest
import torch

from effl_plugins.cli import build_parser
from effl_plugins.commands._train_args import TIMM_REFUSED, training_settings
from effl_plugins.config_file import parse_args_with_config

TABLE = Path(__file__).resolve().parents[1] / "docs" / "timm_train_flags.md"
#: Flags other changes add (their rows say "owned by another change"): skipped while absent, nothing else.
OTHER_CHANGES = {
    "--reprob",
    "--remode",
    "--recount",
    "--color-jitter",
    "--log-interval",
    "--train-split",
    "--val-split",
    "--class-map",
}
BASE = ["finetune", "--data", "digits", "--model", "test_resnet"]


def table_rows() -> list[dict[str, str]]:
    """The table's rows as ``{"flag", "status", "example", "ours", "note"}``."""
    lines = [line for line in TABLE.read_text().splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[1:]]


ROWS = table_rows()


@functools.cache
def effl_parser() -> argparse.ArgumentParser:
    """``effl``'s parser, built once (parsing leaves it as it was)."""
    return build_parser(plugin_commands=False)


def finetune_parser() -> argparse.ArgumentParser:
    parser = effl_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["finetune"]


def parse(*argv: str) -> argparse.Namespace:
    return effl_parser().parse_args([*BASE, *argv])


def row_id(row: dict[str, str]) -> str:
    return row["flag"]


def test_the_table_lists_every_flag_once_and_every_refusal():
    flags = [row["flag"] for row in ROWS]
    assert len(flags) == len(set(flags)) and len(flags) > 170
    assert {row["status"] for row in ROWS} <= {"accepted", "refused"} | {
        row["status"] for row in ROWS if row["status"].startswith("alias-of-")
    }
    refused = {row["flag"] for row in ROWS if row["status"] == "refused"}
    assert set(TIMM_REFUSED) <= refused


@pytest.mark.parametrize("row", [r for r in ROWS if r["status"] == "accepted"], ids=row_id)
def test_accepted_flags_parse_and_reach_the_settings(row):
    flag = row["flag"]
    if flag == "-c, --config":
        return  # tests/test_config_file.py
    if flag in OTHER_CHANGES and flag not in finetune_parser()._option_string_actions:
        pytest.skip(f"{flag}: owned by another change")
    args = parse(flag, *row["example"].split())
    if flag == "--model" or flag in OTHER_CHANGES:
        return
    assert training_settings(args) != training_settings(parse()), f"{flag} changes no setting"


@pytest.mark.parametrize("row", [r for r in ROWS if r["status"].startswith("alias-of-")], ids=row_id)
def test_aliases_set_what_effl_flag_sets(row):
    ours = row["status"].removeprefix("alias-of-")
    dest = finetune_parser()._option_string_actions[ours].dest
    assert getattr(parse(row["flag"], row["example"]), dest) == getattr(parse(ours, row["example"]), dest)


@pytest.mark.parametrize("row", [r for r in ROWS if r["status"] == "refused"], ids=row_id)
def test_refused_flags_exit_2_with_one_line_naming_ours(row, capsys):
    if row["flag"] in OTHER_CHANGES and row["flag"] not in finetune_parser()._option_string_actions:
        pytest.skip(f"{row['flag']}: owned by another change")
    word = [row["example"]] if row["flag"].startswith("DIR") else [row["flag"], *row["example"].split()]
    with pytest.raises(SystemExit) as info:
        parse(*word)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("effl finetune: error: "), err
    assert row["ours"] and row["ours"] in err, err


def test_distill_refuses_model_naming_its_student_and_teacher(capsys):
    with pytest.raises(SystemExit) as info:
        effl_parser().parse_args(["distill", "--data", "digits", "--teacher", "t", "--student", "s", "--model", "s"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "use --student NAME" in err, err


def test_a_refused_switch_in_a_config_file_is_refused(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("log-wandb: true\n")
    args = parse_args_with_config(build_parser(plugin_commands=False), [*BASE, "-c", str(config)])
    with pytest.raises(ValueError, match="--log wandb"):
        training_settings(args)


# -- what the accepted flags change ------------------------------------------------------------------


def test_timm_spellings_fold_into_effl_settings(tmp_path):
    settings = training_settings(parse("--input-size", "3", "96", "96", "--gp", "max", "--drop-block", "0.1"))
    assert settings["img_size"] == 96 and settings["model_kwargs"] == {"global_pool": "max", "drop_block_rate": 0.1}
    assert training_settings(parse("--model-kwargs", "img_size=64", "global_pool=avg"))["img_size"] == 64
    assert training_settings(parse("--amp", "--amp-dtype", "bfloat16"))["amp"] == "bf16"
    flipped = training_settings(parse("--vflip", "0.5", "--image-aug", "flip"))["image_aug"]
    assert flipped == 'flip(direction="vertical", p=0.5)+flip'
    assert training_settings(parse("--out", "runs", "--experiment", "a"))["out"] == str(Path("runs") / "a")
    assert training_settings(parse("--experiment", "a"))["out"] == str(Path("output") / "train" / "a")
    settings = training_settings(parse("--resume", str(tmp_path / "checkpoint.pt")))
    assert settings["out"] == str(tmp_path) and settings["resume"] is True
    for argv, message in (
        (("--img-size", "64", "--input-size", "3", "96", "96"), "differ"),
        (("--amp-dtype", "float16"), "applies with --amp"),
        (("--amp", "bf16", "--amp-dtype", "float16"), "contradicts"),
        (("--gp", "max", "--model-kwargs", "global_pool=avg"), "differ"),
        (("--torchcompile-mode", "default"), "applies with --torchcompile"),
        (("--resume", "x", "--out", str(tmp_path)), "not --out"),
    ):
        with pytest.raises(ValueError, match=message):
            training_settings(parse(*argv))


def _engine(**settings):
    from torch.utils.data import TensorDataset

    from effl_plugins.models import create_model
    from effl_plugins.train import Engine, ModelInput, SupervisedTask, TrainConfig

    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    data = TensorDataset(images, torch.arange(4) % 2)
    task = SupervisedTask(create_model("test_vit", 2, img_size=32), ModelInput((0.5,) * 3, (0.5,) * 3, (32, 32)))
    config = TrainConfig(device="cpu", epochs=10, **settings)
    return Engine(task, data, data, config, num_classes=2)


def test_optimizer_and_schedule_flags_reach_timm():
    engine = _engine(opt="adamw", opt_betas=(0.8, 0.9), layer_decay=0.5, opt_kwargs={"amsgrad": True})
    assert engine.optimizer.defaults["betas"] == (0.8, 0.9) and engine.optimizer.defaults["amsgrad"] is True
    scales = {group["lr_scale"] for group in engine.optimizer.param_groups}
    assert len(scales) > 2 and max(scales) == 1.0  # timm's layer-wise groups
    step = _engine(sched="step", decay_epochs=3, decay_rate=0.5).scheduler
    assert step.decay_t == 3 and step.decay_rate == 0.5
    multistep = _engine(sched="multistep", decay_milestones=(2, 4), decay_rate=0.2).scheduler
    assert list(multistep.decay_t) == [2, 4] and multistep.decay_rate == 0.2
    cosine = _engine(cooldown_epochs=2).scheduler
    assert cosine.t_initial == 8  # the last 2 of 10 epochs stay at min_lr
    noisy = _engine(warmup_epochs=2, warmup_prefix=True, lr_k_decay=0.5, lr_noise=(0.5,), lr_noise_std=0.5).scheduler
    assert noisy.t_initial == 8 and noisy.k_decay == 0.5 and noisy.noise_range_t == 4 and noisy.noise_std == 0.5
    assert noisy.noise_seed == 0  # TrainConfig's seed: the noise of an epoch is the same when resumed


def test_mixup_off_epoch_stops_mixing_from_that_epoch():
    engine = _engine(mixup=0.8, mixup_off_epoch=1)
    batch = (torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
    generator = torch.Generator().manual_seed(0)
    assert engine._batch(batch, None, generator, torch.arange(4)).targets.ndim == 2  # mixed: soft targets
    engine.epoch = 1
    assert engine._batch(batch, None, generator, torch.arange(4)).targets.ndim == 1


def test_clip_mode_reaches_timms_dispatch(monkeypatch):
    import timm.utils

    modes = []
    monkeypatch.setattr(timm.utils, "dispatch_clip_grad", lambda params, value, mode: modes.append((value, mode)))
    engine = _engine(clip_grad=0.5, clip_mode="agc")
    engine.task.model(torch.randn(2, 3, 32, 32)).sum().backward()
    engine._optimizer_step()
    assert modes == [(0.5, "agc")]


def test_validation_batch_size_sets_the_evaluation_batches(monkeypatch):
    from effl_plugins.train import engine as engine_module

    seen = []
    monkeypatch.setattr(engine_module, "evaluate", lambda *a, **k: seen.append(k["batch_size"]))
    _engine(validation_batch_size=3)._evaluate(torch.nn.Identity())
    _engine(batch_size=8)._evaluate(torch.nn.Identity())
    assert seen == [3, 64]


def test_layer_decay_is_finetunes_own_and_linear_probe_refuses_it():
    from effl_plugins.strategies.transfer.finetune import Finetune
    from effl_plugins.strategies.transfer.linear_probe import LinearProbe
    from effl_plugins.train.config import SettingRefusedError

    assert Finetune("test_vit", layer_decay=0.5).layer_decay == 0.5  # timm's groups under its backbone/head rates
    with pytest.raises(SettingRefusedError, match="linear_probe trains the head alone.*--strategy finetune"):
        LinearProbe("test_vit", layer_decay=0.5)


def test_bce_loss_is_timms_binary_cross_entropy():
    from timm.loss import BinaryCrossEntropy

    from effl_plugins.data import DataConfig
    from effl_plugins.strategies.transfer.finetune import Finetune
    from effl_plugins.train.config import SettingRefusedError

    strategy = Finetune("test_resnet", bce_loss=True, smoothing=0.1)
    data = argparse.Namespace(data_config=DataConfig((3, 32, 32), "bilinear", (0.5,) * 3, (0.5,) * 3, 1.0))
    task = strategy.supervised_task(torch.nn.Linear(3, 4), data)
    logits, targets = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    assert torch.allclose(task.loss_fn(logits, targets, 0.1), BinaryCrossEntropy(smoothing=0.1)(logits, targets))
    from effl_plugins.strategies.one_stage import FixMatch

    with pytest.raises(SettingRefusedError, match="--bce-loss"):
        FixMatch("test_resnet", bce_loss=True)


def test_model_flags_build_the_model(tmp_path):
    from effl_plugins.strategies.transfer.finetune import Finetune

    source = Finetune("test_resnet").build_model("test_resnet", 3)
    torch.save({"model": source.state_dict()}, tmp_path / "weights.pt")
    loaded = Finetune("test_resnet", initial_checkpoint=str(tmp_path / "weights.pt"), seed=5).build_model(
        "test_resnet", 3
    )
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), loaded.state_dict().values()))
    pooled = Finetune("test_resnet", model_kwargs={"global_pool": "max"}).build_model("test_resnet", 3)
    assert pooled.global_pool.pool_type == "max"
    with pytest.raises(ValueError, match="--num-classes 5: the data has 3 classes"):
        Finetune("test_resnet", num_classes=5).build_model("test_resnet", 3)
    checkpointed = Finetune("test_vit", grad_checkpointing=True).build_model("test_vit", 3)
    assert checkpointed.grad_checkpointing is True
    with pytest.raises(ValueError, match="--grad-checkpointing: model"):
        Finetune("dla46_c", grad_checkpointing=True).build_model("dla46_c", 3)  # timm: "not supported"
    compiled = Finetune("test_resnet", torchcompile="eager").build_model("test_resnet", 3)
    assert compiled._compiled_call_impl is not None  # compiled in place: the state dict keeps its names
    assert list(compiled.state_dict()) == list(source.state_dict())

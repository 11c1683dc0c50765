"""The self-training strategies on the engine: clean teacher, noised student, rounds swapping
teacher and student, selection, argument checks, Mean Teacher's EMA, exact resume."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

import effl_plugins as ep
from effl_plugins.models import create_model
from effl_plugins.strategies.base import Strategy
from effl_plugins.strategies.selftrain.labeler import label_dataset
from effl_plugins.strategies.selftrain.store import read_store, state_dict_hash
from effl_plugins.testing import small_digits
from effl_plugins.train.inputs import ModelInput

TINY = {"model": "test_resnet", "epochs": 1, "batch_size": 32, "device": "cpu", "progress": False}
#: small_digits' data config: mean 0.5, std 0.5 (inputs in [-1, 1]).
NORMALIZE = ModelInput((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@pytest.fixture(scope="module")
def data():
    return small_digits(labeled=20, test=40, unlabeled=48)


def _images(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def test_teacher_labels_in_eval_mode_without_grad_on_clean_images(data, tmp_path):
    teacher = Strategy("test_resnet", drop=0.5).build_model("test_resnet", 10)
    teacher.train()
    seen = []
    teacher.register_forward_pre_hook(
        lambda m, args: seen.append((m.training, torch.is_grad_enabled(), args[0].clone()))
    )
    label_dataset(
        teacher,
        data.unlabeled_eval,
        tmp_path,
        num_classes=10,
        model_input=NORMALIZE,
        shard_size=20,
        rank=0,
        world_size=1,
    )
    assert [(training, grad) for training, grad, _ in seen] == [(False, False)] * 3
    clean = _images(data.unlabeled_eval)
    torch.testing.assert_close(torch.cat([x for *_, x in seen]), NORMALIZE(clean))
    probs = read_store(tmp_path, expected_ids=data.unlabeled_eval.ids).probs
    with torch.no_grad():
        again = torch.softmax(teacher.eval()(NORMALIZE(clean)), 1)
    torch.testing.assert_close(probs, again)  # deterministic: no dropout at labelling time


def test_student_is_noised_by_augmentation_dropout_and_drop_path(data, tmp_path):
    strategy = ep.create_strategy(
        "noisy_student", rounds=1, noise="brightness(max_delta=0.3)", drop_rate=0.5, drop_path_rate=0.2, **TINY
    )
    strategy.run(data, out_dir=tmp_path)
    args = torch.load(tmp_path / "round-1" / "student" / "checkpoint.pt", weights_only=True)["config"]
    assert args["aug"] == "brightness(max_delta=0.3)"  # the student's batches got the noise SPEC
    student = strategy.build_model("test_resnet", 10, drop=0.5, drop_path=0.2)
    assert student.drop_rate == 0.5
    assert any(getattr(m, "drop_prob", 0) > 0 for m in student.modules())  # stochastic depth in the blocks
    x = NORMALIZE(_images(data.test)[:8])
    student.train()
    with torch.no_grad():
        assert not torch.equal(student(x), student(x))  # noise active while training
        student.eval()
        assert torch.equal(student(x), student(x))


def test_rounds_swap_teacher_and_student(data, tmp_path):
    strategy = ep.create_strategy("noisy_student", rounds=2, students=["test_resnet", "test_resnet"], **TINY)
    summary = strategy.run(data, out_dir=tmp_path)
    rounds = summary["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert set(rounds[0]) >= {"round", "teacher", "student", "accuracy", "pseudo_labels"}
    first_student = create_model(f"test_resnet:{tmp_path / 'round-1' / 'student.safetensors'}", 10)
    round2_store = read_store(tmp_path / "round-2" / "labels", trust_ids=True)
    assert round2_store.teacher_hash == state_dict_hash(first_student) == rounds[1]["teacher_hash"]
    assert (
        read_store(tmp_path / "round-1" / "labels", trust_ids=True).teacher_hash
        == rounds[0]["teacher_hash"]
        != rounds[1]["teacher_hash"]
    )
    with torch.no_grad():  # round 2's labels are round 1's student's predictions on the clean images
        expected = torch.softmax(first_student.eval()(NORMALIZE(_images(data.unlabeled_eval))), 1)
    torch.testing.assert_close(round2_store.probs, expected)
    assert summary["final_accuracy"] == rounds[1]["accuracy"]
    resumed = ep.create_strategy("noisy_student", rounds=2, students=["test_resnet", "test_resnet"], **TINY)
    assert resumed.run(data, out_dir=tmp_path, resume=True)["rounds"] == rounds  # finished rounds are reused


def test_pseudo_label_threshold_and_balance_decide_the_training_set(data, tmp_path):
    everything = ep.create_strategy("pseudo_label", threshold=0.0, **TINY).run(data, out_dir=tmp_path / "a")
    assert everything["pseudo_labels"] == len(data.unlabeled)
    balanced = ep.create_strategy("pseudo_label", balance=7, **TINY).run(data, out_dir=tmp_path / "b")
    predicted = read_store(tmp_path / "b" / "labels", expected_ids=data.unlabeled.ids).probs.argmax(1).unique().numel()
    assert balanced["pseudo_labels"] == 7 * predicted
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["pseudo_labels"] == balanced["pseudo_labels"]
    student = torch.load(tmp_path / "b" / "student" / "checkpoint.pt", weights_only=True)
    assert student["history"][0]["train_samples"] == len(data.labeled) + balanced["pseudo_labels"]


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("noisy_student", {"rounds": 0}, "rounds must be an integer >= 1, got 0"),
        ("noisy_student", {"drop_rate": 1.5}, "drop_rate must be in"),
        ("pseudo_label", {"threshold": 2}, "threshold must be a confidence"),
        ("pseudo_label", {"balance": 0}, "balance must be None or an integer >= 1"),
        ("fixmatch", {"mu": 0}, "mu .* must be an integer >= 1, got 0"),
        ("fixmatch", {"threshold": -1}, "threshold must be in"),
        ("mean_teacher", {"ema_decay": 1.2}, "ema_decay must be in"),
        ("finetune", {"lr": float("inf")}, "lr must be a finite number > 0"),
        ("finetune", {"epochs": 0}, "epochs must be an integer >= 1"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_strategy(name, **{**TINY, **kwargs})


def test_a_bad_noise_spec_is_refused_when_the_strategy_is_made():
    with pytest.raises(ep.UnknownComponentError, match="unknown augmentation 'brightnes'.*brightness"):
        ep.create_strategy("noisy_student", noise="brightnes(max_delta=0.3)", **TINY)
    with pytest.raises(ValueError, match="max_delta"):
        ep.create_strategy("noisy_student", noise="brightness(max_delta=7)", **TINY)
    strategy = ep.create_strategy("noisy_student", noise="flip", **TINY)
    assert strategy.noise == "flip"


def test_unknown_strategy_argument_is_a_type_error_listing_the_settings():
    with pytest.raises(TypeError, match="unknown arguments \\['epoch'\\].*epochs"):
        ep.create_strategy("finetune", epoch=3)


def test_strategies_need_unlabeled_images(data):
    for name in ("pseudo_label", "noisy_student", "fixmatch", "mean_teacher"):
        with pytest.raises(ValueError, match="needs unlabeled images"):
            ep.create_strategy(name, **TINY).run(replace(data, unlabeled=None))


def test_mean_teacher_reports_the_ema_of_the_student(data):
    """decay 0: the teacher is the student after every update, so it is not the initial model."""
    strategy = ep.create_strategy("mean_teacher", ema_decay=0.0, ema_decay_after=0.0, mu=1, **TINY)
    summary = strategy.run(data)
    initial = Strategy("test_resnet").build_model("test_resnet", 10)
    teacher = strategy.trained_model
    assert not all(torch.equal(a, b) for a, b in zip(teacher.parameters(), initial.parameters()))
    assert summary["final_accuracy"] == summary["best_accuracy"]


def test_a_given_teacher_checkpoint_with_another_head_is_refused_and_a_matching_one_labels(data, tmp_path):
    import timm

    torch.save(timm.create_model("test_resnet", num_classes=7).state_dict(), tmp_path / "seven.pt")
    with pytest.raises(ep.CheckpointError, match="7-class head but the data has 10 classes"):
        ep.create_strategy("pseudo_label", teacher=f"test_resnet:{tmp_path / 'seven.pt'}", **TINY).run(
            data, out_dir=tmp_path / "refused"
        )
    torch.save(timm.create_model("test_resnet", num_classes=10).state_dict(), tmp_path / "ten.pt")
    summary = ep.create_strategy("pseudo_label", teacher=f"test_resnet:{tmp_path / 'ten.pt'}", **TINY).run(
        data, out_dir=tmp_path / "labelled"
    )
    assert summary["pseudo_labels"] == len(data.unlabeled)

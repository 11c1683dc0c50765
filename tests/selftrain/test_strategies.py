"""The self-training strategies: clean teacher, noised student, rounds swapping teacher and student."""

from __future__ import annotations

import json

import pytest
import torch

import effl_plugins as ep
from effl_plugins.data import load_digits
from effl_plugins.engine import normalize
from effl_plugins.selftrain.labeler import label_dataset
from effl_plugins.selftrain.store import read_store, state_dict_hash
from effl_plugins.selftrain.training import build_model
from effl_plugins.models import create_model

TINY = {"model": "test_resnet", "epochs": 1, "batch_size": 32}


@pytest.fixture(scope="module")
def data():
    bundle = load_digits(num_labeled=20, num_test=40, image_size=32)
    bundle.unlabeled = bundle.unlabeled.subset(range(48))
    bundle.hidden_targets = bundle.hidden_targets[:48]
    return bundle


class SpyNoise(torch.nn.Module):
    """The registered brightness augmentation, recording every batch it changes."""

    def __init__(self):
        super().__init__()
        self.inner = ep.create_augmentation("brightness", max_delta=0.3)
        self.calls = []

    def forward(self, images, targets=None, **kwargs):
        out, targets = self.inner(images, targets, **kwargs)
        self.calls.append((images.shape[0], bool((out != images).any())))
        return out, targets


def test_teacher_labels_in_eval_mode_without_grad_on_raw_images(data, tmp_path):
    teacher = build_model("test_resnet", 10, seed=0, drop_rate=0.5)
    teacher.train()
    seen = []
    teacher.register_forward_pre_hook(lambda m, args: seen.append((m.training, torch.is_grad_enabled(), args[0].clone())))
    label_dataset(teacher, data.unlabeled, tmp_path, num_classes=10, shard_size=20, rank=0, world_size=1)
    assert [(training, grad) for training, grad, _ in seen] == [(False, False)] * 3
    torch.testing.assert_close(torch.cat([x for *_, x in seen]), normalize(data.unlabeled.images))
    probs = read_store(tmp_path).probs
    with torch.no_grad():
        again = torch.softmax(teacher.eval()(normalize(data.unlabeled.images)), 1)
    torch.testing.assert_close(probs, again)  # deterministic: no dropout at labelling time


def test_student_is_noised_by_augmentation_dropout_and_drop_path(data, tmp_path):
    spy = SpyNoise()
    strategy = ep.create_strategy("noisy_student", rounds=1, augment=spy, drop_rate=0.5, drop_path_rate=0.2, **TINY)
    summary = strategy.run(data, out_dir=tmp_path)
    labeled_plus_pseudo = len(data.labeled) + summary["rounds"][0]["pseudo_labels"]
    assert sum(n for n, _ in spy.calls) == labeled_plus_pseudo  # every student batch, once per epoch
    assert all(changed for _, changed in spy.calls)
    student = strategy.student_model("test_resnet", 10, 0)
    assert student.drop_rate == 0.5
    assert any(getattr(m, "drop_prob", 0) > 0 for m in student.modules())  # stochastic depth in the blocks
    x = normalize(data.test.images[:8])
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
    round2_store = read_store(tmp_path / "round-2" / "labels")
    assert round2_store.teacher_hash == state_dict_hash(first_student) == rounds[1]["teacher_hash"]
    assert read_store(tmp_path / "round-1" / "labels").teacher_hash == rounds[0]["teacher_hash"] != rounds[1]["teacher_hash"]
    with torch.no_grad():  # round 2's labels are round 1's student's predictions
        expected = torch.softmax(first_student.eval()(normalize(data.unlabeled.images)), 1)
    torch.testing.assert_close(round2_store.probs, expected)
    assert summary["final_accuracy"] == rounds[1]["accuracy"]
    resumed = ep.create_strategy("noisy_student", rounds=2, students=["test_resnet", "test_resnet"], **TINY)
    assert resumed.run(data, out_dir=tmp_path, resume=True)["rounds"] == rounds  # finished rounds are reused


def test_pseudo_label_threshold_and_balance_decide_the_training_set(data, tmp_path):
    everything = ep.create_strategy("pseudo_label", threshold=0.0, **TINY).run(data, out_dir=tmp_path / "a")
    assert everything["pseudo_labels"] == len(data.unlabeled)
    balanced = ep.create_strategy("pseudo_label", balance=7, **TINY).run(data, out_dir=tmp_path / "b")
    predicted = read_store(tmp_path / "b" / "labels").probs.argmax(1).unique().numel()
    assert balanced["pseudo_labels"] == 7 * predicted
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["pseudo_labels"] == balanced["pseudo_labels"]


@pytest.mark.parametrize("name, kwargs, match", [
    ("noisy_student", {"rounds": 0}, "rounds must be an integer >= 1, got 0"),
    ("noisy_student", {"drop_rate": 1.5}, "drop_rate must be in"),
    ("pseudo_label", {"threshold": 2}, "threshold must be a confidence"),
    ("pseudo_label", {"balance": 0}, "balance must be None or an integer >= 1"),
    ("fixmatch", {"mu": 0}, "mu .* must be an integer >= 1, got 0"),
    ("fixmatch", {"threshold": -1}, "threshold must be in"),
    ("mean_teacher", {"ema_decay": 1.2}, "ema_decay must be in"),
])
def test_bad_arguments_name_the_argument_and_value(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ep.create_strategy(name, **TINY, **kwargs)


def test_strategies_need_unlabeled_images(data):
    from dataclasses import replace

    for name in ("pseudo_label", "noisy_student", "fixmatch", "mean_teacher"):
        with pytest.raises(ValueError, match="needs unlabeled images"):
            ep.create_strategy(name, **TINY).run(replace(data, unlabeled=None))


@pytest.mark.parametrize("decay", [1.0, 0.0])
def test_mean_teacher_reports_the_ema_of_the_student(data, decay):
    strategy = ep.create_strategy("mean_teacher", ema_decay=decay, ema_decay_after=decay, **TINY)
    summary = strategy.run(data)
    initial = build_model("test_resnet", 10, seed=0)
    teacher, student = strategy.trained_model, strategy.student
    expected = initial if decay == 1.0 else student  # frozen at the start, or a copy of the student
    assert all(torch.equal(a, b) for a, b in zip(teacher.parameters(), expected.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(initial.parameters(), student.parameters()))
    assert summary["final_accuracy"] == summary["history"][-1]["accuracy"]


@pytest.mark.parametrize(("name", "calls_per_epoch"), [("fixmatch", 2), ("mean_teacher", 4)])
def test_consistency_run_killed_mid_epoch_resumes_exactly(data, tmp_path, monkeypatch, name, calls_per_epoch):
    """Killed in its second epoch (after one more optimizer step), the run resumes from the checkpoint of
    the first and ends with the weights and history of an uninterrupted run."""
    kwargs = dict(TINY, epochs=2, mu=1)
    fresh = ep.create_strategy(name, **kwargs)
    expected = fresh.run(data, out_dir=tmp_path / "fresh")
    module = __import__(f"effl_plugins.selftrain.{name}", fromlist=["normalize"])
    real, calls = module.normalize, []

    def dies_in_second_epoch(images):
        calls.append(1)
        if len(calls) > calls_per_epoch + calls_per_epoch // 2:
            raise KeyboardInterrupt
        return real(images)

    monkeypatch.setattr(module, "normalize", dies_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        ep.create_strategy(name, **kwargs).run(data, out_dir=tmp_path / "killed")
    monkeypatch.setattr(module, "normalize", real)
    assert torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = ep.create_strategy(name, **kwargs)
    summary = resumed.run(data, out_dir=tmp_path / "killed", resume=True)
    assert summary["history"] == expected["history"]
    assert all(torch.equal(a, b) for a, b in zip(resumed.trained_model.state_dict().values(), fresh.trained_model.state_dict().values()))


def test_resume_refuses_a_checkpoint_from_another_batch_size(data, tmp_path):
    ep.create_strategy("fixmatch", **dict(TINY, mu=1)).run(data, out_dir=tmp_path)
    with pytest.raises(ep.EfflError, match="steps per epoch"):
        ep.create_strategy("fixmatch", **dict(TINY, mu=2)).run(data, out_dir=tmp_path, resume=True)

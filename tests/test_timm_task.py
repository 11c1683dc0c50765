"""Registered losses as a ``timm.task.TrainingTask``: one training step, frozen teacher, normalisation."""

from __future__ import annotations

import pytest
import timm
import torch

import effl_plugins as ep
from effl_plugins.timm_task import RegistryDistillationTask

pytest.importorskip("timm.task")

CLASSES = 5


def models(seed: int = 0):
    torch.manual_seed(seed)
    student = timm.create_model("test_resnet", num_classes=CLASSES)  # mean/std 0.5
    teacher = timm.create_model("test_efficientnet", num_classes=CLASSES)  # ImageNet mean/std
    return student, teacher


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(4, 3, 32, 32, generator=g), torch.tensor([0, 1, 2, 4])


@pytest.mark.parametrize(
    ("loss", "loss_args", "terms"),
    [
        ("kd", {"temperature": 2.0, "alpha": 0.5}, {"kd", "ce"}),
        ("dkd", {}, {"tckd", "nckd"}),
        ("fitnet", {"student_channels": 96, "teacher_channels": 64, "kd_weight": 1.0}, {"hint", "ce", "kd"}),
    ],
)
def test_a_training_step_reaches_the_student_only(loss, loss_args, terms):
    student, teacher = models()
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    task = RegistryDistillationTask(student, teacher, loss=loss, **loss_args)
    task.train()
    assert student.training and not task.teacher.training and not teacher.training
    optimizer = torch.optim.SGD(task.trainable_module.parameters(), lr=0.1)
    x, y = batch()
    out = task(x, y)
    assert terms <= set(out) and out["output"].shape == (4, CLASSES) and out["loss"].ndim == 0
    out["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    grads = [p.grad for p in student.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    if loss == "fitnet":  # the loss's own regressor trains with the student
        assert all(p.grad is not None for p in task.loss.parameters()) and len(list(task.loss.parameters())) == 2
        assert set(task.get_task_state()["loss"]) == {"regressors.0.weight", "regressors.0.bias"}
    optimizer.step()
    assert all(torch.equal(v, teacher_before[k]) for k, v in teacher.state_dict().items())
    assert task.get_eval_model() is student


def test_kd_matches_the_loss_on_the_teachers_own_input():
    student, teacher = models()
    task = RegistryDistillationTask(student, teacher, loss="kd", temperature=4.0, alpha=0.5)
    x, y = batch()
    out = task(x, y)
    s_mean = s_std = torch.full((1, 3, 1, 1), 0.5)
    t_mean = torch.tensor(teacher.pretrained_cfg["mean"]).view(1, 3, 1, 1)
    t_std = torch.tensor(teacher.pretrained_cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        teacher_logits = teacher((x * s_std + s_mean - t_mean) / t_std)  # the teacher sees its own normalisation
        expected = ep.create_loss("kd", temperature=4.0, alpha=0.5)(student(x), teacher_logits, y)
        unnormalised = ep.create_loss("kd", temperature=4.0, alpha=0.5)(student(x), teacher(x), y)
    torch.testing.assert_close(out["loss"].detach(), expected["loss"])
    assert not torch.allclose(expected["loss"], unnormalised["loss"])


def test_same_normalisation_passes_the_input_through():
    torch.manual_seed(0)
    student = timm.create_model("test_resnet", num_classes=CLASSES)
    teacher = timm.create_model("test_resnet", num_classes=CLASSES)
    seen = []
    teacher.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x, y = batch()
    RegistryDistillationTask(student, teacher, loss="kd")(x, y)
    assert torch.equal(seen[0], x)


def test_without_targets_and_with_soft_targets():
    student, teacher = models()
    task = RegistryDistillationTask(student, teacher, loss="kd")
    x, y = batch()
    assert set(task(x)) == {"loss", "kd", "output"}
    soft = torch.nn.functional.one_hot(y, CLASSES).float() * 0.8 + 0.2 / CLASSES
    assert torch.isfinite(task(x, soft)["loss"])


def test_bad_arguments():
    student, teacher = models()
    with pytest.raises(TypeError, match=r"'temprature' \(did you mean 'temperature'\?\)"):
        RegistryDistillationTask(student, teacher, loss="kd", temprature=2.0)
    with pytest.raises(ep.UnknownComponentError, match="did you mean 'kd'"):
        RegistryDistillationTask(student, teacher, loss="kdd")
    with pytest.raises(TypeError, match="apply to a loss given by name"):
        RegistryDistillationTask(student, teacher, loss=ep.create_loss("kd"), temperature=2.0)
    with pytest.raises(TypeError, match="student must be an nn.Module"):
        RegistryDistillationTask("test_resnet", teacher)

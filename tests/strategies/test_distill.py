"""distill: the teacher stays frozen in eval mode and never receives gradients; the student learns."""

from __future__ import annotations

import pytest
import timm
import torch

import effl_plugins as ep
from effl_plugins.data import load_digits
from effl_plugins.distill.step import DistillStep, FeatureModel


@pytest.fixture(scope="module")
def data():
    bundle = load_digits(num_labeled=20, num_test=20)
    bundle.unlabeled = bundle.unlabeled.subset(range(20))
    return bundle


def test_teacher_gets_no_grads_and_stays_eval(data, tmp_path):
    torch.manual_seed(0)
    teacher = timm.create_model("test_efficientnet", num_classes=10)
    torch.save(teacher.state_dict(), tmp_path / "teacher.pt")
    strategy = ep.create_strategy("distill", model="test_resnet", teacher=f"test_efficientnet:{tmp_path / 'teacher.pt'}",
                                  epochs=1, batch_size=8)
    assert strategy.teacher_epochs == 0
    seen = []
    build = strategy.build

    def spy_build(num_classes):
        t, s, loss = build(num_classes)
        t.register_forward_hook(lambda m, i, o: seen.append((m.training, torch.is_grad_enabled())))
        return t, s, loss

    strategy.build = spy_build
    student_before = None
    summary = strategy.run(data, out_dir=tmp_path / "out")
    teacher_after = strategy.teacher_model
    assert seen and all(mode == (False, False) for mode in seen), "teacher ran in train mode or with grad"
    assert all(p.grad is None and not p.requires_grad for p in teacher_after.parameters())
    reference = torch.load(tmp_path / "teacher.pt", weights_only=True)
    assert all(torch.equal(reference[k], v) for k, v in teacher_after.state_dict().items())
    assert summary["epochs"] == 1 and summary["loss"] == "kd" and student_before is None


def test_mixed_batch_uses_targets_only_where_labeled():
    torch.manual_seed(0)
    teacher, student = timm.create_model("test_resnet", num_classes=4), timm.create_model("test_resnet", num_classes=4)
    loss = ep.create_loss("kd", alpha=0.5, temperature=2.0)
    x, targets = torch.randn(6, 3, 32, 32), torch.tensor([1, -1, 2, -1, -1, 0])
    out = DistillStep(teacher, loss)(student.eval(), x, targets)
    s, t = student(x), teacher(x)
    lab = targets >= 0
    expected = 0.5 * loss(s[lab], t[lab], targets[lab])["loss"] + 0.5 * loss(s[~lab], t[~lab])["loss"]
    torch.testing.assert_close(out["loss"], expected)
    out["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())


@pytest.mark.parametrize("name", ["test_resnet", "test_vit"])
def test_feature_model_returns_logits_and_a_feature_map(name):
    model = timm.create_model(name, num_classes=3).eval()
    x = torch.randn(2, 3, 32, 32)
    logits, features = FeatureModel(model)(x)
    torch.testing.assert_close(logits, model(x))
    assert features.ndim == 4 and features.shape[0] == 2


def test_feature_loss_trains_its_adapter(data):
    strategy = ep.create_strategy("distill", model="test_resnet", teacher="test_efficientnet", loss="attention_transfer",
                                  epochs=1, batch_size=8)
    summary = strategy.run(data)
    assert 0 <= summary["final_accuracy"] <= 1 and "teacher_accuracy" in summary


def test_errors_before_training(tmp_path):
    torch.save(timm.create_model("test_resnet", num_classes=7).state_dict(), tmp_path / "seven.pt")
    with pytest.raises(ep.CheckpointError, match="7-class head"):
        ep.create_strategy("distill", teacher=f"test_resnet:{tmp_path / 'seven.pt'}").build(10)
    with pytest.raises(ep.UnknownComponentError):
        ep.create_strategy("distill", loss="kd_nope").build(10)
    with pytest.raises(ValueError, match="temperature"):
        ep.create_strategy("distill", loss_args={"temperature": -1}).build(10)
    with pytest.raises(ValueError, match="teacher_epochs"):
        ep.create_strategy("distill", teacher_epochs=-1)

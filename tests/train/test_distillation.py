"""DistillationTask: a frozen teacher on its own input, gradients to the student and the loss only,
labeled and unlabeled rows weighted; the distill strategy's checks."""

from __future__ import annotations

import pytest
import timm
import torch
import torch.nn.functional as F

import effl_plugins as ep
from effl_plugins.testing import small_digits
from effl_plugins.train import DistillationTask, ModelInput, TrainConfig
from effl_plugins.train.tasks import Batch, FeatureModel

from ._helpers import assert_same_tensors, engine, model, records

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5,) * 3, (0.5,) * 3)


def _images(batch=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, size, size), generator=g, dtype=torch.uint8)


def _batch(images, targets):
    return Batch(images, targets, targets >= 0)


def test_gradients_reach_the_student_and_the_losss_adapter_only():
    teacher, student = model("test_efficientnet", 4, seed=1), model("test_resnet", 4, seed=2)
    loss = ep.create_loss("fitnet", student_channels=96, teacher_channels=64, kd_weight=1.0)
    task = DistillationTask(student, ModelInput(*HALF), teacher, ModelInput(*HALF), loss).train()
    adapter = list(loss.parameters())
    assert adapter and teacher.training is False
    out = task(_batch(_images(), torch.tensor([1, -1, 2, -1, 3, 0])))
    out["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in adapter)
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    groups = task.param_groups()  # the optimizer gets the student and the adapter, never the teacher
    optimised = {id(p) for g in groups for p in g["params"]}
    assert optimised == {id(p) for p in student.parameters()} | {id(p) for p in adapter}
    assert {id(p) for p in task.trainable.parameters()} == optimised
    assert not any(k.startswith(("teacher.", "teacher_forward.")) for k in task.checkpoint_state())


def test_rows_without_a_label_get_the_loss_without_targets():
    teacher, student = model("test_resnet", 4, seed=1), model("test_resnet", 4, seed=2)
    loss = ep.create_loss("kd", alpha=0.5, temperature=2.0)
    task = DistillationTask(student, ModelInput(*HALF), teacher, ModelInput(*HALF), loss).eval()
    images, targets = _images(), torch.tensor([1, -1, 2, -1, -1, 0])
    out = task(_batch(images, targets))
    x = ModelInput(*HALF)(images)
    s, t = student(x), teacher(x)
    lab = targets >= 0
    expected = loss(s[lab], t[lab], targets[lab])["loss"] + loss(s[~lab], t[~lab])["loss"]
    torch.testing.assert_close(out["loss"], expected)
    # kd by hand (float64): alpha * T^2 * KL(p_t || p_s) + (1 - alpha) * CE on labeled rows, KL alone elsewhere
    s64, t64 = s.detach().double(), t.detach().double()

    def kl(rows):
        p_t = (t64[rows] / 2).softmax(1)
        return (p_t * (p_t.log() - (s64[rows] / 2).log_softmax(1))).sum(1).mean() * 4

    labeled = 0.5 * kl(lab) + 0.5 * F.cross_entropy(s64[lab], targets[lab])
    unlabeled_rows = kl(~lab)
    assert out["loss"].item() == pytest.approx((labeled + unlabeled_rows).item(), rel=1e-5)
    half = DistillationTask(student, ModelInput(*HALF), teacher, ModelInput(*HALF), loss, unlabeled_weight=0.5)
    assert half.eval()(_batch(images, targets))["loss"].item() == pytest.approx(
        (labeled + 0.5 * unlabeled_rows).item(), rel=1e-5
    )
    all_labeled = task(_batch(images, torch.tensor([1, 0, 2, 3, 1, 0])))["loss"]
    torch.testing.assert_close(all_labeled, loss(s, t, torch.tensor([1, 0, 2, 3, 1, 0]))["loss"])
    none_labeled = task(_batch(images, torch.full((6,), -1)))["loss"]
    torch.testing.assert_close(none_labeled, loss(s, t)["loss"])


def test_a_teacher_with_another_data_config_sees_its_own_normalisation_and_size():
    student, teacher = model("test_resnet", 4, seed=2), model("test_vit", 4, seed=1)
    seen = {}
    teacher.register_forward_pre_hook(lambda m, args: seen.__setitem__("teacher", args[0].detach().clone()))
    student.register_forward_pre_hook(lambda m, args: seen.__setitem__("student", args[0].detach().clone()))
    student_input = ModelInput(*HALF, size=(64, 64))
    teacher_input = ModelInput(*IMAGENET, size=(160, 160), interpolation="bicubic")
    task = DistillationTask(student, student_input, teacher, teacher_input, ep.create_loss("kd")).train()
    images = _images(size=64)
    task(_batch(images, torch.tensor([0, 1, 2, 3, 0, 1])))
    resized = F.interpolate(images.double(), size=(160, 160), mode="bicubic", align_corners=False, antialias=True)
    mean, std = (torch.tensor(v, dtype=torch.float64).view(1, 3, 1, 1) for v in IMAGENET)
    assert seen["teacher"].shape == (6, 3, 160, 160)
    torch.testing.assert_close(seen["teacher"].double(), (resized / 255 - mean) / std, rtol=0, atol=1e-4)
    assert seen["student"].shape == (6, 3, 64, 64)
    torch.testing.assert_close(seen["student"].double(), images.double() / 127.5 - 1, rtol=0, atol=1e-6)


def test_training_leaves_the_teacher_frozen_in_eval_mode_and_trains_the_adapter(tmp_path):
    data = small_digits(labeled=16, test=8, unlabeled=8)
    teacher, student = model("test_efficientnet", 10, seed=1), model("test_resnet", 10, seed=2)
    loss = ep.create_loss("fitnet", student_channels=96, teacher_channels=64)
    modes = []
    for part in teacher.modules():  # fitnet runs forward_intermediates: hook every layer
        part.register_forward_hook(lambda m, i, o: modes.append((m.training, torch.is_grad_enabled())))
    half = ModelInput.from_config(data.data_config)
    task = DistillationTask(student, half, teacher, ModelInput(*IMAGENET, size=(48, 48)), loss)
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    adapter_before = [p.detach().clone() for p in loss.parameters()]
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-2, device="cpu", progress=False, mixup=0.5)
    engine(task, data, tmp_path, config).fit()
    assert modes and set(modes) == {(False, False)}, "the teacher ran in train mode or with gradients"
    assert_same_tensors(teacher.state_dict(), teacher_before, "teacher ")
    assert all(p.grad is None for p in teacher.parameters())
    assert all(not torch.equal(a, p) for a, p in zip(adapter_before, loss.parameters()))


@pytest.mark.parametrize("name", ["test_resnet", "test_vit"])
def test_feature_model_returns_the_logits_and_a_feature_map(name):
    net = timm.create_model(name, num_classes=3).eval()
    x = torch.randn(2, 3, 32, 32)
    logits, features = FeatureModel(net)(x)
    torch.testing.assert_close(logits, net(x))
    assert features.ndim == 4 and features.shape[0] == 2
    logits, maps = FeatureModel(net, levels=2)(x)
    assert isinstance(maps, list) and len(maps) == 2


def test_the_distill_strategy_optimises_a_feature_loss_adapter(tmp_path):
    data = small_digits(labeled=16, test=8, unlabeled=8)
    strategy = ep.create_strategy(
        "distill",
        model="test_resnet",
        teacher="test_efficientnet",
        loss="fitnet",
        epochs=2,
        batch_size=8,
        device="cpu",
        progress=False,
        teacher_epochs=1,
    )
    engines, make_engine = [], strategy.engine

    def spy_engine(*args, **kwargs):
        engines.append(make_engine(*args, **kwargs))
        return engines[-1]

    strategy.engine = spy_engine
    summary = strategy.run(data, out_dir=tmp_path)
    # eight test digits: no accuracy margin to ask for; the student's loss (fitnet + kd) falls
    losses = [r["train_loss"] for r in records(tmp_path)]
    assert len(losses) == 2 and losses[1] < losses[0] and "teacher_accuracy" in summary, losses
    task = engines[-1].task
    adapter = list(task.loss.parameters())  # fitnet's regressor, built on the first call without channels
    optimised = {id(p) for g in engines[-1].optimizer.param_groups for p in g["params"]}
    assert adapter and {id(p) for p in adapter} <= optimised, "the fitnet regressor is not optimised"
    assert not optimised & {id(p) for p in task.teacher.parameters()}


def test_strategy_errors_before_training(tmp_path):
    torch.save(timm.create_model("test_resnet", num_classes=7).state_dict(), tmp_path / "seven.pt")
    with pytest.raises(ep.CheckpointError, match="7-class head"):
        ep.create_strategy("distill", teacher=f"test_resnet:{tmp_path / 'seven.pt'}").build(10)
    with pytest.raises(ep.UnknownComponentError):
        ep.create_strategy("distill", loss="kd_nope").build(10)
    with pytest.raises(ValueError, match="temperature"):
        ep.create_strategy("distill", loss_args={"temperature": -1}).build(10)
    with pytest.raises(ValueError, match="teacher_epochs"):
        ep.create_strategy("distill", teacher_epochs=-1)

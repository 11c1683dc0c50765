"""The paths that run only on CUDA: the fused RandAugment and KD kernels chosen by ``backend``/``path="auto"``,
the prefetch loader's pinned, non-blocking copies on a side stream, the engine on ``cuda`` (its loader's pinned
memory and the device augmentation), and AMP fp16 with its GradScaler (saved and resumed).

Marked ``cuda`` and skipped where torch sees no CUDA device; ``benchmarks/gpu_check.sh`` runs them
(``python -m pytest tests/test_cuda_paths.py -q``).
"""

from __future__ import annotations

import pytest
import torch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _images(batch: int = 16, size: tuple[int, int] = (32, 32), seed: int = 0, device: str = "cuda") -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, *size), dtype=torch.uint8, generator=g).to(device)


# -- fused RandAugment ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_rand_augment_auto_takes_the_fused_kernels_and_matches_the_torch_form(interpolation):
    import effl_plugins as ep
    from effl_plugins._triton import triton_available
    from effl_plugins.augment.auto.device_path import _fused, rand_augment_batch

    if not triton_available():
        pytest.skip("Triton does not import here: backend='auto' runs the torch form")
    x = _images(64, (37, 53))
    aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=13, interpolation=interpolation)
    out, _ = aug(x, generator=torch.Generator(device="cuda").manual_seed(0))
    assert out.is_cuda and out.dtype == torch.uint8 and out.shape == x.shape
    ops, magnitude, sign = aug._checked(aug.last_params, len(x))
    args = (x, ops, magnitude.float(), sign.float(), aug.op_names, aug._space, interpolation, aug.fill)
    assert _fused(x, "auto")  # CUDA uint8 with Triton: the two-launch kernels
    fused = rand_augment_batch(*args, backend="auto")
    assert torch.equal(out, fused)  # the module's call is that path
    reference = rand_augment_batch(*args, backend="torch")
    diff = (fused.double() - reference.double()).abs()
    if interpolation == "nearest":
        assert torch.equal(fused, reference)
    else:  # bilinear blends in float32: a rounding may land one level apart (benchmarks/gpu_check.py's bound)
        assert float(diff.max()) <= 1 and float((diff > 0).double().mean()) <= 1e-3
    assert not torch.equal(fused, x)  # something was applied


def test_rand_augment_on_cuda_equals_the_cpu_reference_for_nearest_uint8():
    import effl_plugins as ep
    from effl_plugins.augment.auto.device_path import rand_augment_batch

    x = _images(32)
    aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=9)
    gpu, _ = aug(x, generator=torch.Generator(device="cuda").manual_seed(1))
    ops, magnitude, sign = aug._checked(aug.last_params, len(x))
    cpu = rand_augment_batch(
        x.cpu(), ops.cpu(), magnitude.float().cpu(), sign.float().cpu(), aug.op_names, aug._space, backend="torch"
    )
    assert torch.equal(gpu.cpu(), cpu)


# -- fused KD -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_kd_auto_takes_the_triton_kernel_and_matches_the_reference(dtype):
    from effl_plugins._triton import triton_available
    from effl_plugins.losses.functional import kd_divergence, kd_divergence_reference
    from effl_plugins.losses.fused_kd import kd_path

    g = torch.Generator(device="cuda").manual_seed(0)
    student = (3 * torch.randn(64, 1000, device="cuda", generator=g)).to(dtype).requires_grad_(True)
    teacher = (3 * torch.randn(64, 1000, device="cuda", generator=g)).to(dtype)
    assert kd_path(student) == ("triton" if triton_available() else "eager")
    loss = kd_divergence(student, teacher, 4.0)  # path="auto"
    (grad,) = torch.autograd.grad(loss, student)
    reference = kd_divergence_reference(student.double(), teacher.double(), 4.0)
    (reference_grad,) = torch.autograd.grad(reference, student)
    assert loss.is_cuda and loss.dtype == torch.float32 and torch.isfinite(loss)
    assert float(loss) == pytest.approx(float(reference), rel=1e-4, abs=1e-5)
    assert grad.dtype == dtype and grad.is_cuda
    tolerance = 1e-4 if dtype == torch.float32 else 1e-2  # of the largest gradient (half-precision storage)
    worst = float((grad.double() - reference_grad.double()).abs().max())
    assert worst <= tolerance * float(reference_grad.abs().max())


def test_kd_loss_on_cuda_through_the_registry():
    import effl_plugins as ep

    loss = ep.create_loss("kd", temperature=4.0, alpha=0.5)
    g = torch.Generator(device="cuda").manual_seed(0)
    student = torch.randn(16, 10, device="cuda", generator=g, requires_grad=True)
    teacher = torch.randn(16, 10, device="cuda", generator=g)
    targets = torch.randint(0, 10, (16,), device="cuda", generator=g)
    out = loss(student, teacher, targets)
    value = out["loss"] if isinstance(out, dict) else out
    value.backward()
    assert value.is_cuda and torch.isfinite(value) and torch.isfinite(student.grad).all()


# -- the prefetch loader --------------------------------------------------------------------------------------


def test_prefetch_loader_pins_copies_non_blocking_and_keeps_order(monkeypatch):
    from effl_plugins.augment.prefetch import PrefetchLoader

    batches = [(_images(8, seed=i, device="cpu"), torch.arange(8) + i) for i in range(5)]
    pinned = []
    pin = torch.Tensor.pin_memory

    def record_pin(self, *args, **kwargs):
        pinned.append(tuple(self.shape))
        return pin(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "pin_memory", record_pin)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    loader = PrefetchLoader(batches, device="cuda", mean=mean, std=std)
    out = list(loader)
    assert len(pinned) == len(batches)  # every unpinned uint8 batch is pinned before its copy
    assert len(out) == len(batches)
    for (images, targets), (source, labels) in zip(out, batches):
        assert images.is_cuda and images.dtype == torch.float32 and targets.is_cuda
        expected = (source.float() - torch.tensor(mean).view(1, 3, 1, 1) * 255) / (
            torch.tensor(std).view(1, 3, 1, 1) * 255
        )
        torch.cuda.synchronize()
        assert torch.allclose(images.cpu(), expected, atol=1e-5)  # the side stream's copy is complete and in order
        assert torch.equal(targets.cpu(), labels)


def test_prefetch_loader_does_not_pin_twice_and_augments_on_the_device(monkeypatch):
    import effl_plugins as ep
    from effl_plugins.augment.prefetch import PrefetchLoader

    batches = [(_images(8, seed=i, device="cpu").pin_memory(), torch.arange(8)) for i in range(3)]
    calls = []
    pin = torch.Tensor.pin_memory
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *a, **k: calls.append(1) or pin(self, *a, **k))
    aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=9)
    seen = []

    def augmentation(images, targets, generator=None):
        seen.append(images.device.type)
        return aug(images, targets, generator=generator)

    generator = torch.Generator(device="cuda").manual_seed(0)
    out = list(PrefetchLoader(batches, augmentation, device="cuda", generator=generator))
    assert calls == [] and seen == ["cuda"] * 3
    assert all(images.is_cuda and images.dtype == torch.uint8 for images, _ in out)


# -- the engine on CUDA, AMP fp16 and its GradScaler ---------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    from effl_plugins.testing import small_digits

    return small_digits(labeled=64, test=32, unlabeled=64)


def _engine(digits, out_dir=None, **settings):
    import timm

    from effl_plugins.train import Engine, ModelInput, SupervisedTask, TrainConfig, seed_everything

    seed_everything(0)
    model = timm.create_model("test_resnet", num_classes=10)
    task = SupervisedTask(model, ModelInput.from_config(digits.data_config))
    config = TrainConfig(
        **{"epochs": 2, "batch_size": 16, "device": "cuda", "sched": "none", "progress": False, **settings}
    )
    return Engine(task, digits.labeled, digits.test, config, num_classes=10, out_dir=out_dir)


def test_engine_trains_on_cuda_with_pinned_loading_and_the_device_augmentation(digits, tmp_path):
    from effl_plugins.train.checkpoints import load_checkpoint

    engine = _engine(digits, tmp_path, amp="off", pin_mem=True, aug="rand_augment(num_ops=2, magnitude=9)")
    assert engine.device.type == "cuda" and engine.amp_dtype is None and engine.scaler is None
    assert all(p.is_cuda for p in engine.task.parameters())
    main, _, dataset = engine._streams()
    assert engine._loader(dataset, list(main.batches(0, 1))).pin_memory  # pin_mem reaches the DataLoader on CUDA
    summary = engine.fit()
    assert len(engine.history) == 2 and all(torch.isfinite(torch.tensor(h["train_loss"])) for h in engine.history)
    losses = [h["train_loss"] for h in engine.history]
    assert summary["epochs"] == 2 and losses[1] < losses[0], losses  # it learned on the GPU
    state = load_checkpoint(tmp_path / "checkpoint.pt")  # written from CUDA, read on the CPU
    assert all(not t.is_cuda for t in state["model"].values())


def test_amp_fp16_uses_a_grad_scaler_that_is_saved_and_resumed(digits, tmp_path):
    from effl_plugins.train.checkpoints import load_checkpoint

    engine = _engine(digits, tmp_path, amp="fp16", clip_grad=1.0, epochs=1)
    assert engine.amp_dtype == torch.float16
    assert isinstance(engine.scaler, torch.amp.GradScaler) and engine.scaler.is_enabled()
    engine.fit()
    assert torch.isfinite(torch.tensor(engine.history[-1]["train_loss"]))
    saved = load_checkpoint(tmp_path / "checkpoint.pt")["scaler"]
    assert saved and saved["scale"] > 0
    resumed = _engine(digits, tmp_path, amp="fp16", clip_grad=1.0, epochs=2)
    resumed.fit(resume=True)
    assert resumed.epoch == 2 and len(resumed.history) == 2
    assert resumed.scaler.state_dict()["_growth_tracker"] >= 0


def test_amp_auto_on_cuda_is_bf16_where_supported_else_fp16_with_a_scaler(digits):
    engine = _engine(digits, amp="auto")
    if torch.cuda.is_bf16_supported():
        assert engine.amp_dtype == torch.bfloat16 and engine.scaler is None
    else:
        assert engine.amp_dtype == torch.float16 and engine.scaler is not None

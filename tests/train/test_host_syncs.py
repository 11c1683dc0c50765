"""No host-device synchronisation in a training step beyond the documented ones.

On a GPU every read of a device tensor's value on the host (``.item()``, ``int(t)``, ``float(t)``,
``bool(t)``, ``.tolist()``, ``.numpy()``, a tensor used as an index) waits for the device. On the CPU
the same reads are plain Python calls, so this test counts them: it wraps those methods of
``torch.Tensor`` while the engine runs its per-step body on a batch it has made (``Engine._train_step``
after ``Engine._batch``: ``task(batch)``, the engine's own read of the loss, backward, the optimizer
step and ``task.after_step()``) and compares the count with the allowance the engine documents
(:mod:`effl_plugins.train.engine`):

- the engine reads the step's loss once (``float(loss)``: the non-finite stop and the epoch's record);
- a loss of :mod:`effl_plugins.losses` reads one scalar per call for its non-finite check
  (``check_finite``; ``kd`` reads its own value instead), so a distillation step adds one per loss call.

Left out, each a read of host memory on every device: ``torch.optim``'s reads of its step counters
(``state["step"]`` is a CPU tensor unless the optimizer is ``capturable``/``fused``), the fused KD
backward's test for an incoming gradient of 1 (``fused_kd._consume_gradient``: CPU tensors only), and and
the CPU KD forms' tests for masked teacher classes and an overflowing shift (``fused_kd._masked_dot`` and
``fused_kd._kd_chunk``: CPU tensors only; on another device they clamp and shift by the maxima instead of
reading).
The FixMatch family runs with its default weak view as the strong one too: the augmentation ops are
their own components, with CPU kernels of their own.
"""

from __future__ import annotations

import contextlib
import os

import pytest
import timm
import torch

import effl_plugins as ep
from effl_plugins.train import Engine, ModelInput, SupervisedTask, TrainConfig
from effl_plugins.train.tasks import DistillationTask, FixMatchTask, MeanTeacherTask
from effl_plugins.train.tasks.flexmatch import FlexMatchTask
from effl_plugins.train.tasks.freematch import FreeMatchTask
from effl_plugins.train.tasks.softmatch import SoftMatchTask
from effl_plugins.train.tasks.uda import UDATask

SIZE, CLASSES, BATCH, STEPS = 32, 4, 4, 3
READS = ("item", "__int__", "__float__", "__bool__", "__index__", "tolist", "numpy")
TORCH_OPTIM = os.path.join("torch", "optim", "")
#: Functions whose reads touch host memory on every device (see the module docstring).
HOST_ONLY = {"_consume_gradient", "_masked_dot", "_kd_chunk"}

#: The engine's one read per step (the loss, for the non-finite stop and the record).
ENGINE_READS = 1


@contextlib.contextmanager
def counted_reads():
    """Count the host reads of tensor values made inside the block (``reads["total"]``, and per caller)."""
    reads: dict[str, int] = {"total": 0}
    originals = {name: getattr(torch.Tensor, name) for name in READS}

    def counting(name, original):
        def read(self, *args, **kwargs):
            import sys

            caller = sys._getframe(1).f_code
            if TORCH_OPTIM not in caller.co_filename and caller.co_name not in HOST_ONLY:
                reads["total"] += 1
                where = f"{name} in {os.path.basename(caller.co_filename)}:{caller.co_name}"
                reads[where] = reads.get(where, 0) + 1
            return original(self, *args, **kwargs)

        return read

    for name, original in originals.items():
        setattr(torch.Tensor, name, counting(name, original))
    try:
        yield reads
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm.create_model("test_resnet", num_classes=CLASSES)


def _inputs() -> ModelInput:
    return ModelInput((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def _images(count: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, SIZE, SIZE), dtype=torch.uint8, generator=g)


def _tasks():
    adaptive = dict(mu=2, strong=None)  # thresholds from the statistics
    ssl = dict(threshold=0.0, **adaptive)  # every pseudo-label confident: the masked paths run
    teacher = _model(seed=1)
    return {
        "supervised": lambda: SupervisedTask(_model(), _inputs()),
        "supervised_smoothing": lambda: SupervisedTask(_model(), _inputs(), smoothing=0.1),
        "distillation_kd": lambda: DistillationTask(_model(), _inputs(), teacher, _inputs(), ep.create_loss("kd")),
        "fixmatch": lambda: FixMatchTask(_model(), _inputs(), **ssl),
        "flexmatch": lambda: FlexMatchTask(_model(), _inputs(), num_unlabeled=BATCH * 2 * STEPS, **ssl),
        "freematch": lambda: FreeMatchTask(_model(), _inputs(), **adaptive),
        "softmatch": lambda: SoftMatchTask(_model(), _inputs(), **adaptive),
        "uda": lambda: UDATask(_model(), _inputs(), tsa="linear", **ssl),
        "mean_teacher": lambda: MeanTeacherTask(_model(), _inputs(), mu=2, rampup_epochs=1.0),
    }


#: Loss calls per step beyond the engine's read: a distillation step on a batch of labeled and unlabeled
#: rows calls its loss twice (the labeled rows with their targets, the others without).
LOSS_CALLS = {"distillation_kd": 2}


def _engine(task, targets: torch.Tensor, config: TrainConfig) -> Engine:
    labeled = list(zip(_images(len(targets), 0), targets))
    unlabeled = [(image, -1) for image in _images(BATCH * 2 * STEPS, 1)] if task.unlabeled_ratio else None
    return Engine(task, labeled, labeled[:2], config, num_classes=CLASSES, unlabeled_set=unlabeled)


@pytest.mark.parametrize("name", list(_tasks()))
def test_a_training_step_reads_the_device_only_where_documented(name):
    task = _tasks()[name]()
    config = TrainConfig(epochs=1, batch_size=BATCH, device="cpu", progress=False, sched="none", lr=1e-3)
    # half the labeled stream's rows unlabeled (-1) where the task takes them: the split paths run
    targets = torch.tensor([0, 1, -1, -1] * STEPS) if not task.unlabeled_ratio else torch.arange(BATCH * STEPS) % 4
    engine = _engine(task, targets, config)
    engine.task.train()
    for step in range(STEPS):
        rows = slice(step * BATCH, (step + 1) * BATCH)
        labeled_batch = (_images(BATCH, 10 + step), targets[rows])
        if task.unlabeled_ratio:
            unlabeled_rows = torch.arange(step * BATCH * 2, (step + 1) * BATCH * 2)
            main_batch, indices = (_images(BATCH * 2, 20 + step), torch.full((BATCH * 2,), -1)), unlabeled_rows
            args = (main_batch, labeled_batch)
        else:
            args, indices = (labeled_batch, None), torch.arange(rows.start, rows.stop)
        engine.step = step
        generator = torch.Generator().manual_seed(step)
        batch = engine._batch(*args, generator, indices)  # the data enters: counted on the host, moved
        engine._batch = lambda *_, batch=batch: batch
        with counted_reads() as reads:
            loss = engine._train_step(*args, STEPS, indices)
        assert loss == loss  # finite and read back: the step ran
        allowed = ENGINE_READS + LOSS_CALLS.get(name, 0)
        assert reads["total"] == allowed, f"step {step}: {reads}"


def test_the_counter_sees_every_kind_of_read():
    x = torch.ones(2)
    with counted_reads() as reads:
        x[0].item(), int(x[0]), float(x[0]), bool(x[0]), x.tolist(), x.numpy(), [0, 1][torch.tensor(1)]
    assert reads["total"] == 7, reads

"""The train/eval loop: a plain PyTorch loop a timm user recognises.

timm's ``create_optimizer_v2`` / ``create_scheduler_v2``, AMP (bf16 or fp16 autocast on CUDA, off
on the CPU unless asked), gradient clipping, optional EMA (timm ``ModelEmaV3``), a tqdm bar on a
terminal, metrics as JSON lines, and checkpoints that survive faults:

* ``out_dir/checkpoint.pt`` is written atomically (temporary file + ``os.replace``) after every
  epoch and on SIGTERM (the running step finishes, the checkpoint is saved, then the process exits
  with status 143). It holds tensors and primitive containers only, so
  ``torch.load(path, weights_only=True)`` reads it: model, optimizer, scheduler, grad scaler, EMA,
  epoch, step within the epoch, and every RNG state (torch, CUDA, NumPy, Python) as tensors.
* The data order is a function of ``(seed, epoch)`` alone (a ``DistributedSampler`` with
  ``set_epoch``), so ``resume=True`` continues exactly: the loss curve after a kill and resume
  equals an uninterrupted run.
* Under ``torchrun --nproc_per_node=N`` the same call trains with DistributedDataParallel (NCCL on
  CUDA, gloo on the CPU); each rank sees its shard, evaluation is summed over ranks, and rank 0
  alone writes checkpoints and logs. A teacher stays in ``eval()`` under ``no_grad`` and is never
  wrapped in DDP.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .checkpoints import CHECKPOINT_NAME, atomic_save, atomic_write_text, load_checkpoint, rng_state, set_rng_state
from .distill.step import DistillStep, FeatureModel
from .distributed import DistInfo, all_sum, distributed_info, init_distributed
from .errors import CheckpointError

__all__ = [
    "TrainConfig",
    "normalize",
    "seed_everything",
    "make_loader",
    "evaluate",
    "train_epoch",
    "fit",
    "Trainer",
    "TrainingInterrupted",
    "atomic_write_text",
    "atomic_save",
    "load_checkpoint",
    "init_distributed",
    "distributed_info",
    "FeatureModel",
    "CHECKPOINT_NAME",
]

AMP_MODES = ("auto", "bf16", "fp16", "off")


@dataclass
class TrainConfig:
    """Hyper-parameters every strategy shares.

    ``opt``/``sched`` are timm names (``create_optimizer_v2``/``create_scheduler_v2``; ``sched="none"``
    keeps the learning rate constant). ``amp``: ``"auto"`` (bf16 on CUDA where supported, else
    fp16; off on the CPU), ``"bf16"``, ``"fp16"`` or ``"off"``. ``clip_grad``: max gradient norm.
    ``ema_decay``: keep a timm ``ModelEmaV3`` and report its accuracy too.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"
    opt: str = "adamw"
    sched: str = "cosine"
    warmup_epochs: int = 0
    amp: str = "auto"
    clip_grad: float | None = None
    ema_decay: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int) or self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be an integer >= 0, got {self.warmup_epochs!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.clip_grad is not None and not self.clip_grad > 0:
            raise ValueError(f"clip_grad must be None or > 0, got {self.clip_grad!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be None or in (0, 1), got {self.ema_decay!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")


class TrainingInterrupted(SystemExit):
    """Raised after SIGTERM once the checkpoint is saved; exits the process with status 143."""

    def __init__(self, checkpoint: Path | None):
        super().__init__(128 + signal.SIGTERM)
        self.checkpoint = checkpoint


# ----------------------------------------------------------------------------- small pieces


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` (0..255) or float (0..1) -> float32 in [-1, 1]."""
    scale = 1 / 127.5 if images.dtype == torch.uint8 else 2.0
    return images.float() * scale - 1.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0, drop_last: bool = False) -> DataLoader:
    """A DataLoader whose shuffling order is a function of ``seed`` alone."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last)


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, device: str | torch.device = "cpu", batch_size: int = 256,
             distributed: bool = False, amp_dtype: torch.dtype | None = None) -> float:
    """Top-1 accuracy of ``model`` on a labeled dataset (model left in eval mode).

    With ``distributed=True`` (inside an initialised process group) each rank scores every
    ``world_size``-th image and the counts are summed over ranks, so the result is exact.
    """
    model.eval()
    device = torch.device(device)
    info = distributed_info() if distributed else DistInfo()
    indices = list(range(info.rank, len(dataset), info.world_size))
    loader = DataLoader(dataset, batch_size=batch_size, sampler=indices, generator=torch.Generator())
    correct = total = 0
    for images, targets in loader:
        with _autocast(device, amp_dtype):
            logits = model(normalize(images.to(device)))
        correct += int((logits.argmax(-1).cpu() == targets).sum())
        total += len(targets)
    correct, total = all_sum([float(correct), float(total)], info, device)
    return correct / max(total, 1)


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: str | torch.device = "cpu",
    augment: Callable | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> float:
    """One plain pass over ``loader`` (no AMP, no checkpoints); returns the mean training loss."""
    model.train()
    total, count = 0.0, 0
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        if augment is not None:
            images, targets = augment(images, targets)
        loss = loss_fn(model(normalize(images)), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(images)
        count += len(images)
    return total / max(count, 1)


def _supervised_step(loss_fn: Callable) -> Callable:
    def step(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": loss_fn(model(x), targets)}

    return step


# ----------------------------------------------------------------------------- the trainer


class Trainer:
    """Trains ``model`` on ``train_set`` and evaluates on ``test_set`` after every epoch.

    Args:
        optimizer: an optimizer over ``model``'s parameters, or None for timm's
            ``create_optimizer_v2(param_groups or model, opt=config.opt, lr, weight_decay)``.
        scheduler: a timm scheduler, or None for ``create_scheduler_v2(sched=config.sched)``.
        loss_fn: ``(logits, targets) -> loss`` for supervised training (cross-entropy).
        teacher, distill_loss, features: distillation; the teacher is frozen in eval mode and
            ``features=True`` passes ``student_features=``/``teacher_features=`` to the loss.
        augment: ``(images, targets) -> (images, targets)`` on the device, uint8 or float.
        on_epoch_start: ``callback(epoch)`` run before each epoch (e.g. gradual unfreezing); it
            must depend on ``epoch`` alone so a resumed run repeats it.
    """

    def __init__(self, model: nn.Module, train_set: Dataset, test_set: Dataset, config: TrainConfig | None = None,
                 optimizer: torch.optim.Optimizer | None = None, *, scheduler: Any = None, param_groups: list[dict] | None = None,
                 out_dir: str | os.PathLike | None = None, augment: Callable | None = None,
                 loss_fn: Callable = F.cross_entropy, teacher: nn.Module | None = None, distill_loss: nn.Module | None = None,
                 features: bool = False, on_epoch_start: Callable[[int], None] | None = None):
        self.config = config = config or TrainConfig()
        self.info, self.device = init_distributed(config.device)
        self.model = model.to(self.device)
        self.train_set, self.test_set, self.augment = train_set, test_set, augment
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.on_epoch_start = on_epoch_start
        self.amp_dtype = _amp_dtype(config.amp, self.device)
        self.features = features
        if teacher is not None:
            if distill_loss is None:
                raise ValueError("distill_loss is required with a teacher, got None")
            self.step_fn = DistillStep(teacher.to(self.device), distill_loss.to(self.device), features)
        else:
            self.step_fn = _supervised_step(loss_fn)
        self.optimizer = optimizer if optimizer is not None else _create_optimizer(param_groups or model, config)
        self.scheduler = scheduler if scheduler is not None else _create_scheduler(self.optimizer, config)
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16 else None
        self.ema = _create_ema(model, config.ema_decay)
        self.history: list[dict[str, Any]] = []
        self.epoch = self.step = 0
        self.partial = (0.0, 0)
        self._wrapped: nn.Module | None = None
        self._trainable: tuple[bool, ...] | None = None
        self._stop = False

    # -- public
    def fit(self, resume: bool = False) -> dict[str, Any]:
        if resume:
            self.resume()
        previous = self._install_sigterm()
        try:
            while self.epoch < self.config.epochs:
                self._train_one_epoch()
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return self.summary(write=True)

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    def resume(self) -> bool:
        """Restore everything from ``out_dir/checkpoint.pt``; False (fresh start) when there is none."""
        path = self.checkpoint_path
        if path is None or not path.is_file():
            return False
        state = load_checkpoint(path)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {str(path)!r} does not fit this model: {str(exc).splitlines()[0]}") from exc
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.module.load_state_dict(state["ema"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.partial = (float(state["partial_loss"]), int(state["partial_count"]))
        self.history = list(state["history"])
        ranks = state["rng"]
        set_rng_state(ranks[self.info.rank] if self.info.rank < len(ranks) else ranks[0])
        return True

    def save_checkpoint(self) -> None:
        states = [rng_state()]
        if self.info.distributed:
            states = [None] * self.info.world_size
            dist.all_gather_object(states, rng_state())
        if not self.info.main or self.checkpoint_path is None:
            return
        state = {
            "format": "effl-checkpoint-1",
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "ema": self.ema.module.state_dict() if self.ema is not None else {},
            "epoch": self.epoch,
            "step": self.step,
            "partial_loss": self.partial[0],
            "partial_count": self.partial[1],
            "history": self.history,
            "rng": states,
            "config": asdict(self.config),
            "world_size": self.info.world_size,
        }
        atomic_save(state, self.checkpoint_path)

    def summary(self, write: bool = False) -> dict[str, Any]:
        accuracies = [h["accuracy"] for h in self.history] or [0.0]
        summary = {
            "best_accuracy": max(accuracies),
            "final_accuracy": accuracies[-1],
            "epochs": self.config.epochs,
            "best_epoch": 1 + accuracies.index(max(accuracies)),
            "world_size": self.info.world_size,
            "config": asdict(self.config),
        }
        if self.ema is not None and self.history:
            summary["ema_best_accuracy"] = max(h["ema_accuracy"] for h in self.history)
            summary["ema_final_accuracy"] = self.history[-1]["ema_accuracy"]
        if write and self.out_dir is not None and self.info.main:
            atomic_write_text(self.out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary

    # -- the loop
    def _train_one_epoch(self) -> None:
        config, epoch = self.config, self.epoch
        if self.on_epoch_start is not None:
            self.on_epoch_start(epoch)
        model = self._train_model()
        model.train()
        sampler = DistributedSampler(self.train_set, num_replicas=self.info.world_size, rank=self.info.rank,
                                     shuffle=True, seed=config.seed)
        sampler.set_epoch(epoch)
        indices = list(sampler)
        # a generator of its own: creating the iterator must not draw from the global RNG
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        loader = DataLoader(self.train_set, batch_size=config.batch_size, sampler=indices[self.step * config.batch_size:],
                            generator=generator)
        start = time.perf_counter()
        bar = _progress(loader, f"epoch {epoch + 1}/{config.epochs}", config.progress and self.info.main)
        for images, targets in bar:
            loss = self._train_step(model, images, targets)
            total, count = self.partial
            self.partial = (total + loss * len(images), count + len(images))
            self.step += 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss:.4f}")
            if self._should_stop():
                self.save_checkpoint()
                raise TrainingInterrupted(self.checkpoint_path)
        self._end_epoch(time.perf_counter() - start)

    def _train_step(self, model: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> float:
        images, targets = images.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)
        if self.augment is not None:
            images, targets = self.augment(images, targets)
        self.optimizer.zero_grad(set_to_none=True)
        with _autocast(self.device, self.amp_dtype):
            loss = self.step_fn(model, normalize(images), targets)["loss"]
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.config.clip_grad is not None:
            nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.grad is not None], self.config.clip_grad)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return float(loss.detach())

    def _end_epoch(self, seconds: float) -> None:
        total, count = all_sum([self.partial[0], float(self.partial[1])], self.info, self.device)
        record = {"epoch": self.epoch + 1, "train_loss": total / max(count, 1), "train_samples": int(count),
                  "lr": max(g["lr"] for g in self.optimizer.param_groups)}
        self._sync_buffers()
        record["accuracy"] = evaluate(self.model, self.test_set, self.device, distributed=True, amp_dtype=self.amp_dtype)
        if self.ema is not None:
            record["ema_accuracy"] = evaluate(self.ema.module, self.test_set, self.device, distributed=True, amp_dtype=self.amp_dtype)
        record["seconds"] = seconds
        self.history.append(record)
        self.epoch, self.step, self.partial = self.epoch + 1, 0, (0.0, 0)
        if self.scheduler is not None:
            self.scheduler.step(self.epoch)
        self.save_checkpoint()
        if self.out_dir is not None and self.info.main:
            atomic_write_text(self.out_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in self.history))

    def _train_model(self) -> nn.Module:
        """The student as trained this epoch: wrapped for features and, under torchrun, in DDP
        (re-wrapped when the set of trainable parameters changed, e.g. after unfreezing)."""
        trainable = tuple(p.requires_grad for p in self.model.parameters())
        if self._wrapped is None or trainable != self._trainable:
            module = FeatureModel(self.model) if self.features else self.model
            if self.info.distributed:
                from torch.nn.parallel import DistributedDataParallel

                ids = [self.device.index] if self.device.type == "cuda" else None
                module = DistributedDataParallel(module, device_ids=ids)
            self._wrapped, self._trainable = module, trainable
        return self._wrapped

    def _sync_buffers(self) -> None:
        """Rank 0's BatchNorm statistics everywhere (each rank's last forward updated its own), so
        every rank evaluates, and rank 0 saves, the same model."""
        if not self.info.distributed:
            return
        modules = [self.model] + ([self.ema.module] if self.ema is not None else [])
        for buffer in (b for m in modules for b in m.buffers()):
            dist.broadcast(buffer, src=0)

    # -- SIGTERM
    def _install_sigterm(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def request_stop(signum, frame):
            self._stop = True

        return signal.signal(signal.SIGTERM, request_stop)

    def _should_stop(self) -> bool:
        if not self.info.distributed:
            return self._stop
        flag = torch.tensor([1.0 if self._stop else 0.0], device=self.device)
        dist.all_reduce(flag)
        return bool(flag.item() > 0)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16


def _create_optimizer(model_or_groups: Any, config: TrainConfig) -> torch.optim.Optimizer:
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(model_or_groups, opt=config.opt, lr=config.lr, weight_decay=config.weight_decay)


def _create_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    if config.sched in (None, "none"):
        return None
    from timm.scheduler import create_scheduler_v2

    scheduler, _ = create_scheduler_v2(optimizer, sched=config.sched, num_epochs=config.epochs, warmup_epochs=config.warmup_epochs)
    return scheduler


def _create_ema(model: nn.Module, decay: float | None) -> nn.Module | None:
    if decay is None:
        return None
    from timm.utils import ModelEmaV3

    return ModelEmaV3(model, decay=decay)


def _progress(loader: DataLoader, desc: str, enabled: bool):
    if not (enabled and sys.stderr.isatty()):
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=False, dynamic_ncols=True)


def fit(
    model: nn.Module,
    train_set: Dataset,
    test_set: Dataset,
    optimizer: torch.optim.Optimizer | None = None,
    config: TrainConfig | None = None,
    out_dir: str | os.PathLike | None = None,
    augment: Callable | None = None,
    *,
    resume: bool = False,
    **trainer_kwargs: Any,
) -> dict[str, Any]:
    """Train for ``config.epochs``, evaluating after each; returns (and writes) the summary.

    ``out_dir`` receives ``checkpoint.pt``, ``metrics.jsonl`` (one JSON object per epoch) and
    ``summary.json`` ``{"best_accuracy", "final_accuracy", "epochs", ...}``. ``resume=True``
    continues from ``out_dir/checkpoint.pt`` when it exists. Other keyword arguments go to
    :class:`Trainer` (``scheduler``, ``param_groups``, ``loss_fn``, ``teacher``, ``distill_loss``,
    ``features``, ``on_epoch_start``).
    """
    config = config or TrainConfig()
    seed_everything(config.seed)
    trainer = Trainer(model, train_set, test_set, config, optimizer, out_dir=out_dir, augment=augment, **trainer_kwargs)
    return trainer.fit(resume=resume)

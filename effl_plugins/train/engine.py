"""The one training loop: every strategy's objective is a :class:`~effl_plugins.train.tasks.Task`
run by :class:`Engine`.

Per step: batches come from seeded streams (:mod:`.streams`) through a ``DataLoader`` with ``workers``
processes, are moved to the device, get the batch augmentation (``--aug``), Random Erasing and MixUp/CutMix
there, and go to the task, whose ``"loss"`` is back-propagated: timm's optimizer, scheduler and
``ModelEmaV3``, AMP (a grad scaler for fp16), gradient accumulation and clipping, ``channels_last``, DDP
under ``torchrun`` (the task's trainable module only), and a stop with a clear error on a non-finite loss.
A setting the task does not apply (``Task.refusals()``) is refused when the engine is built, never dropped.

``out_dir/checkpoint.pt`` is written atomically after every epoch, every ``checkpoint_interval`` optimizer
steps (when set), and on SIGTERM or a first Ctrl-C: the running step finishes, the checkpoint is saved, a
line says how to resume, and the process exits with status 143 (130 after Ctrl-C; a second Ctrl-C
interrupts at once). It holds tensors and primitive containers only (``weights_only=True`` reads it). The
data order and per-image randomness are functions of ``(seed, epoch, index)``, the device augmentation's
of ``(seed, epoch, step, rank)``, so a killed and resumed run ends bit-identical to an uninterrupted one.
``model_best.pt`` keeps the best epoch.

Host reads in a step: the engine reads the loss once (``float(loss)``), a loss of :mod:`effl_plugins.losses`
one scalar per non-finite check (a logit loss once, a feature loss twice); nothing else, as
``Batch.labeled_count`` is counted from the loader's host tensors. Exceptions, one read each: distillation
on a batch where MixUp/CutMix spread unlabeled rows, and ``--mixup`` with ``--cutmix``.
``tests/train/test_host_syncs.py`` counts the reads of every built-in task.
"""

from __future__ import annotations

import itertools
import math
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .._validate import device as device_name
from ..data.datasets import UNLABELED
from ..errors import CheckpointError, EfflError
from .checkpoints import CHECKPOINT_NAME, atomic_save, load_checkpoint, rng_state, set_rng_state
from .config import TrainConfig, refuse_settings
from .distributed import all_sum, init_distributed
from .erasing import BatchErasing
from .evaluation import autocast, evaluate
from .mixing import BatchMixing
from .progress import EpochProgress
from .rundir import BEST_NAME, check_resume_settings, plain, write_args, write_records, write_summary
from .specs import batch_augmentation
from .splits import augmentation_splits
from .streams import LABELED_STREAM, MAIN_STREAM, BatchList, KeyedDataset, Stream, exactly_once
from .tasks.base import Batch, Task
from .trackers import Trackers

__all__ = ["Engine", "TrainingInterrupted", "NonFiniteLossError", "resolve_device", "seed_everything"]

#: Settings whose change makes a resumed run another run (``epochs`` may grow: the schedule is rebuilt).
MEANING_KEYS = (
    "seed",
    "lr",
    "batch_size",
    "opt",
    "weight_decay",
    "sched",
    "warmup_epochs",
    "mixup",
    "cutmix",
    "aug",
    "reprob",
    "remode",
    "recount",
    "aug_splits",
    "jsd_loss",
    "smoothing",
    "grad_accum_steps",
    "min_lr",
    "momentum",
    "opt_betas",
    "layer_decay",
    "decay_epochs",
    "decay_milestones",
    "decay_rate",
    "cooldown_epochs",
    "bce_loss",
    "warmup_prefix",
    "lr_k_decay",
    "lr_noise",
)


class TrainingInterrupted(SystemExit):
    """Raised after SIGTERM (or a first Ctrl-C) once the checkpoint is saved; exits the process with status
    143 (130 after Ctrl-C)."""

    def __init__(self, checkpoint: Path | None, signum: int = signal.SIGTERM):
        super().__init__(128 + signum)
        self.checkpoint = checkpoint


class NonFiniteLossError(EfflError, FloatingPointError):
    """The training loss became NaN or infinite; names the epoch and step."""


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (model initialisation, dropout)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str | None) -> str:
    """``--device`` -> a torch device string (``auto`` or None: ``cuda`` when available, else ``cpu``); a
    ``ValueError`` for an unknown name or a device this machine lacks."""
    name = device_name("auto" if name is None else name)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
        index, count = int(name.partition(":")[2] or 0), torch.cuda.device_count()
        if index >= count:
            raise ValueError(f"--device {name}: this machine has {count} CUDA device(s) (cuda:0 .. cuda:{count - 1})")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError("--device mps: MPS is not available on this machine; use --device cpu or auto")
    return name


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16


def _step_generator(seed: int, epoch: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    """The device augmentation's generator for one step: a pure function of its arguments."""
    key = int(np.random.SeedSequence([seed, epoch, step, rank]).generate_state(1, dtype=np.uint64)[0] >> 1)
    where = device if device.type == "cuda" else torch.device("cpu")
    return torch.Generator(device=where).manual_seed(key)


class Engine:
    """Trains ``task`` on ``train_set`` and evaluates ``task.eval_model()`` on ``eval_set`` each epoch.

    Args:
        task: the objective (its ``trainable`` module is optimised).
        train_set: yields ``(uint8 [C, H, W], target)``; target an int class id (``-1``: unlabeled) or a
            probability row ``[K]``.
        eval_set: labeled images through the eval transform.
        config: the shared settings (:class:`TrainConfig`).
        num_classes: K (for mixing).
        unlabeled_set: the epoch's stream of tasks with ``unlabeled_ratio > 0``, ``mu * batch_size`` a step.
        out_dir: the run directory (None: nothing written).
        run_info: ``arch``, ``num_classes``, ``class_names``, ``data_config``, ``args`` (saved in every
            checkpoint; ``args`` also in ``args.yaml``).
        param_groups: optimizer groups (default: the task's, else timm's over ``task.trainable``).
        on_epoch_start: ``callback(epoch)`` before each epoch (gradual unfreezing), a function of ``epoch`` alone.
        resume_override: resume even when a setting that changes the run's meaning differs.
        write_summary: write ``out_dir/summary.json`` at the end of :meth:`fit` (False: the caller writes it).
    """

    def __init__(
        self,
        task: Task,
        train_set: Dataset,
        eval_set: Dataset,
        config: TrainConfig,
        *,
        num_classes: int,
        unlabeled_set: Dataset | None = None,
        out_dir: str | os.PathLike | None = None,
        run_info: dict[str, Any] | None = None,
        param_groups: list[dict] | None = None,
        on_epoch_start: Callable[[int], None] | None = None,
        resume_override: bool = False,
        write_summary: bool = True,
    ):
        refuse_settings(type(task).__name__, config.to_dict(), task.refusals())
        self.config = config
        self.info, self.device = init_distributed(resolve_device(config.device))
        if task.unlabeled_ratio and (unlabeled_set is None or len(unlabeled_set) == 0):
            raise ValueError(f"{type(task).__name__} needs unlabeled images: the data has none")
        if len(train_set) == 0:
            raise ValueError("the training set has no images")
        if len(eval_set) == 0:
            raise ValueError("the evaluation set has no images")
        if out_dir is None and any(name != "csv" for name in config.log):
            raise ValueError(f"--log {','.join(config.log)} needs --out: trackers write inside the run directory")
        self.task = task.to(self.device)
        if config.channels_last:
            self.task.to(memory_format=torch.channels_last)
        self.train_set, self.eval_set, self.unlabeled_set = train_set, eval_set, unlabeled_set
        self.num_classes = num_classes
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.run_info = plain(dict(run_info or {}))  # weights-only loadable: no objects, only plain values
        self.on_epoch_start, self.resume_override = on_epoch_start, resume_override
        self.write_summary = write_summary
        self.amp_dtype = _amp_dtype(config.amp, self.device)
        augment = batch_augmentation(config.aug) if task.batch_augmentation else None
        self.augment = augment.to(self.device) if augment is not None else None
        self.mixing = BatchMixing(config, num_classes) if task.batch_augmentation else None
        self.erasing = BatchErasing.from_config(config, task.view_input) if task.batch_augmentation else None
        groups = param_groups if param_groups is not None else task.param_groups()
        self.optimizer = self._create_optimizer(groups) if task.trains else None
        self.scheduler = self._create_scheduler() if task.trains else None
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp_dtype == torch.float16 else None
        self.ema = self._create_ema()
        self.history: list[dict[str, Any]] = []
        self.epoch = self.step = 0
        self.partial = (0.0, 0)
        self.best: float | None = None
        self._trainable_flags: tuple[bool, ...] | None = None
        self._stop: int | None = None  # the signal that asked the run to stop
        self.trackers = Trackers()

    def _create_optimizer(self, groups) -> torch.optim.Optimizer:
        from timm.optim import create_optimizer_v2

        c = self.config
        kwargs: dict[str, Any] = {"momentum": c.momentum}
        if c.opt_eps is not None:
            kwargs["eps"] = c.opt_eps
        if c.opt_betas is not None:
            kwargs["betas"] = c.opt_betas
        if c.layer_decay is not None:
            if groups is not None:
                raise ValueError(
                    f"--layer-decay {c.layer_decay}: this run sets its own optimizer parameter groups; layer "
                    "decay needs timm's groups over the whole model (use --strategy finetune)"
                )
            kwargs["layer_decay"] = c.layer_decay
        kwargs.update(c.opt_kwargs)
        target = groups if groups is not None else self.task.trainable
        return create_optimizer_v2(target, opt=c.opt, lr=c.lr, weight_decay=c.weight_decay, **kwargs)

    def _create_scheduler(self):
        c = self.config
        if c.sched in (None, "none"):
            return None
        from timm.scheduler import create_scheduler_v2

        scheduler, _ = create_scheduler_v2(
            self.optimizer,
            sched=c.sched,
            num_epochs=c.epochs - c.cooldown_epochs - (c.warmup_epochs if c.warmup_prefix else 0),  # within --epochs
            warmup_epochs=c.warmup_epochs,
            warmup_lr=c.warmup_lr,
            min_lr=c.min_lr,
            decay_epochs=c.decay_epochs,
            decay_milestones=list(c.decay_milestones),
            decay_rate=c.decay_rate,
            patience_epochs=c.patience_epochs,
            cooldown_epochs=c.cooldown_epochs,
            warmup_prefix=c.warmup_prefix,
            k_decay=c.lr_k_decay,
            noise=list(c.lr_noise) if c.lr_noise else None,
            noise_pct=c.lr_noise_pct,
            noise_std=c.lr_noise_std,
            noise_seed=c.seed,  # the noise of epoch e is a function of (seed, e): a resumed run draws the same
        )
        return scheduler

    def _create_ema(self):
        if not self.config.model_ema:
            return None
        from timm.utils import ModelEmaV3

        return ModelEmaV3(self.task.eval_model(), decay=self.config.model_ema_decay)

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to ``config.epochs`` (continuing from ``out_dir/checkpoint.pt`` with ``resume``); the summary."""
        resumed = self.resume() if resume else False  # checks the settings against the checkpoint's ``args``
        if resumed and self.config.progress and self.info.main:
            print(
                f"resuming from epoch {self.epoch + 1} step {self.step} of {self.out_dir}", file=sys.stderr, flush=True
            )
        if self.out_dir is not None and self.info.main and "args" in self.run_info:
            write_args(self.out_dir, self.run_info["args"], self.run_info.get("data_config"))  # as it runs now
        self.trackers = self._open_trackers(resumed)
        previous = self._install_stop_signals()
        finished = False
        try:
            while self.epoch < self.config.epochs:
                self._train_one_epoch()
            finished = True
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.trackers.close(finished)
        return self.summary(write=self.write_summary)

    def _open_trackers(self, resumed: bool) -> Trackers:
        """The ``log`` trackers of this run directory (rank 0; none without one)."""
        if not self.config.log or self.out_dir is None or not self.info.main:
            return Trackers()
        settings = self.run_info.get("args") or self.config.to_dict()
        return Trackers.open(
            self.config.log, self.out_dir, run_name=self.out_dir.name, config=plain(dict(settings)), resume=resumed
        )

    @property
    def checkpoint_path(self) -> Path | None:
        return self.out_dir / CHECKPOINT_NAME if self.out_dir is not None else None

    def resume(self) -> bool:
        """Restore everything from ``out_dir/checkpoint.pt``; False (fresh start) when there is none."""
        path = self.checkpoint_path
        if path is None or not path.is_file():
            return False
        state = load_checkpoint(path)
        saved_config = dict(state.get("config") or {})
        check_resume_settings(saved_config, self.config.to_dict(), MEANING_KEYS, override=self.resume_override)
        saved_args, args = dict(state.get("args") or {}), dict(self.run_info.get("args") or {})
        check_resume_settings(saved_args, args, self.run_info.get("meaning_keys", ()), override=self.resume_override)
        try:
            self.task.load_checkpoint_state(state["task"])
        except (RuntimeError, KeyError) as exc:
            raise CheckpointError(
                f"checkpoint {str(path)!r} does not fit this run: {str(exc).splitlines()[0]}"
            ) from exc
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.module.load_state_dict(state["ema"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.partial = _rank_partial(state, self.info.rank, self.info.world_size)
        self.history = list(state["history"])
        self.best = state.get("best_top1")
        if self.scheduler is not None:  # rebuilt for this run's length: extending --epochs re-plans the decay
            self.scheduler.step(self.epoch)
            if saved_config.get("epochs") not in (None, self.config.epochs) and self.info.main:
                print(
                    f"resume: epochs {saved_config['epochs']} -> {self.config.epochs}; the learning-rate schedule "
                    f"is rebuilt for {self.config.epochs} epochs",
                    file=sys.stderr,
                )
        ranks = state["rng"]
        set_rng_state(ranks[self.info.rank] if self.info.rank < len(ranks) else ranks[0])
        return True

    def summary(self, write: bool = False) -> dict[str, Any]:
        accuracies = [h["eval_top1"] for h in self.history] or [0.0]
        summary = {
            "best_accuracy": max(accuracies),
            "final_accuracy": accuracies[-1],
            "epochs": self.config.epochs,
            "best_epoch": 1 + accuracies.index(max(accuracies)),
            "world_size": self.info.world_size,
            **{k: self.run_info[k] for k in ("arch", "num_classes") if k in self.run_info},
            "config": self.config.to_dict(),
        }
        if self.ema is not None and self.history:
            summary["ema_best_accuracy"] = max(h["ema_top1"] for h in self.history)
            summary["ema_final_accuracy"] = self.history[-1]["ema_top1"]
        if write and self.out_dir is not None and self.info.main:
            write_summary(self.out_dir, summary)
        return summary

    def _streams(self) -> tuple[Stream, Stream | None, Dataset]:
        c, info, task = self.config, self.info, self.task

        def stream(dataset, batch_size: int, which: int, drop_last: bool) -> Stream:
            return Stream(
                len(dataset),
                batch_size,
                seed=c.seed,
                stream=which,
                rank=info.rank,
                world_size=info.world_size,
                drop_last=drop_last,
                exactly_once=exactly_once(dataset),
            )

        if task.unlabeled_ratio:
            main = stream(self.unlabeled_set, c.batch_size * task.unlabeled_ratio, MAIN_STREAM, drop_last=True)
            labeled = stream(self.train_set, c.batch_size, LABELED_STREAM, drop_last=True)
            return main, labeled, self.unlabeled_set
        return stream(self.train_set, c.batch_size, MAIN_STREAM, drop_last=False), None, self.train_set

    def _loader(self, dataset: Dataset, batches) -> DataLoader:
        c = self.config
        return DataLoader(
            KeyedDataset(dataset),
            batch_sampler=BatchList(batches),
            num_workers=c.workers,
            pin_memory=c.pin_mem and self.device.type == "cuda",
            generator=torch.Generator(),
            worker_init_fn=_ignore_ctrl_c if c.workers else None,
        )

    def _train_one_epoch(self) -> None:
        config, epoch = self.config, self.epoch
        if self.on_epoch_start is not None:
            self.on_epoch_start(epoch)
        self._wrap()
        self.task.train()
        main, labeled, main_set = self._streams()
        steps = main.per_pass
        first = epoch * steps + self.step
        main_keys = list(main.batches(first, steps - self.step))
        batches = self._loader(main_set, main_keys)
        paired = self._loader(self.train_set, list(labeled.batches(first, steps - self.step))) if labeled else None
        start = time.perf_counter()
        progress = self._epoch_progress(steps)
        labeled_batches = paired if paired is not None else itertools.repeat(None)
        try:
            for main_batch, labeled_batch, keys in zip(batches, labeled_batches, main_keys):
                indices = torch.tensor([index for index, _ in keys], dtype=torch.long)
                loss = self._train_step(main_batch, labeled_batch, steps, indices)
                total, count = self.partial
                size = len(main_batch[0]) if labeled_batch is None else len(labeled_batch[0])
                self.partial = (total + loss * size, count + size)
                self.step += 1
                if progress.active:
                    progress.update(loss, size)
                if self.step % config.grad_accum_steps == 0 and self._should_stop():
                    self.save_checkpoint()
                    progress.close()
                    self._say_stopped(steps)
                    raise TrainingInterrupted(self.checkpoint_path, self._stop or signal.SIGTERM)
                if self._checkpoint_due(steps):
                    self.save_checkpoint()
        finally:
            progress.close()
        self._end_epoch(time.perf_counter() - start)

    def _checkpoint_due(self, steps: int) -> bool:
        """Whether ``checkpoint_interval`` asks for a checkpoint after this step (never at the epoch's last)."""
        every, accum = self.config.checkpoint_interval, self.config.grad_accum_steps
        if not every or self.out_dir is None or self.step >= steps or self.step % accum:
            return False
        return (self.step // accum) % every == 0

    def _epoch_progress(self, steps: int) -> EpochProgress:
        """This epoch's reporter (rank 0, with ``progress``); it feeds the trackers either way."""
        c = self.config
        shown = c.progress and self.info.main
        mode = "off" if not shown else ("bar" if sys.stderr.isatty() else "lines")
        return EpochProgress(
            epoch=self.epoch + 1,
            epochs=c.epochs,
            steps=steps,
            done=self.step,
            interval=c.log_interval,
            mode=mode,
            world_size=self.info.world_size,
            lr=self._lr,
            on_report=self.trackers.log_step if self.trackers else None,
        )

    def _say_stopped(self, steps: int) -> None:
        """The stop line: where the run stopped and is saved, and how to continue it (rank 0)."""
        if not self.info.main:
            return
        where = f" (saved in {self.out_dir})" if self.out_dir is not None else ""
        print(
            f"stopped at epoch {self.epoch + 1} step {self.step}/{steps}{where}; {_resume_hint(self.run_info)}",
            file=sys.stderr,
            flush=True,
        )

    def _batch(self, main_batch, labeled_batch, generator, indices: torch.Tensor) -> Batch:
        device = self.device
        images, targets = labeled_batch if labeled_batch is not None else main_batch
        labeled = targets != UNLABELED if targets.ndim == 1 else torch.ones(len(targets), dtype=torch.bool)
        count = int(labeled.sum()) if targets.device.type == "cpu" else None  # from the loader's host tensors
        images, targets, labeled = (t.to(device, non_blocking=True) for t in (images, targets, labeled))
        unlabeled = main_batch[0].to(device, non_blocking=True) if labeled_batch is not None else None
        if self.config.aug_splits:  # timm's --aug-splits: N views of each image, the first clean (see .splits)
            splits = self.config.aug_splits
            images, targets, labeled = augmentation_splits(images, targets, labeled, self.augment, splits, generator)
            count = count * splits if count is not None else None
        elif self.augment is not None:
            images, _ = self.augment(images, generator=generator)
        if self.erasing is not None:  # on the batch as the model reads it (timm's --reprob): see .erasing
            images = self.erasing(images, generator)
        mixing_off = bool(self.config.mixup_off_epoch) and self.epoch >= self.config.mixup_off_epoch  # timm's
        if self.mixing is not None and self.mixing.enabled and not mixing_off:
            if targets.ndim == 2:  # probability rows (pseudo-labels): a zero column for the unlabeled mass
                targets = torch.cat([targets, targets.new_zeros(len(targets), 1)], dim=1)
            images, targets, labeled = self.mixing(images, targets, generator)
            count = count if count == len(labeled) else None  # mixing spreads unlabeled mass: known on the device
        return Batch(images, targets, labeled, unlabeled, generator, indices.to(self.device), count)

    def _train_step(self, main_batch, labeled_batch, steps: int, indices: torch.Tensor) -> float:
        c, step = self.config, self.step
        generator = _step_generator(c.seed, self.epoch, step, self.info.rank, self.device)
        batch = self._batch(main_batch, labeled_batch, generator, indices)
        self.task.set_progress(self.epoch, step, steps, c.epochs)
        last_micro = (step + 1) % c.grad_accum_steps == 0 or step + 1 == steps
        with self._no_sync(not last_micro), autocast(self.device, self.amp_dtype):
            out = self.task(batch)
        loss = out["loss"]
        value = float(loss.detach())  # the engine's one host read per step (module docstring)
        if self._on_any_rank(not math.isfinite(value)):
            if c.nonfinite == "stop":
                raise NonFiniteLossError(
                    f"the training loss became {value} at epoch {self.epoch + 1}, step "
                    f"{step + 1}: lower --lr, set --clip-grad, or check the data"
                )
            if self.optimizer is not None:
                self.optimizer.zero_grad(set_to_none=True)
            return 0.0
        if self.optimizer is None:  # the task trains nothing: its forward was the step
            self.task.after_step()
            return value
        group_start = step - step % c.grad_accum_steps  # a short last group averages its own micro-batches (timm)
        scaled = loss / min(c.grad_accum_steps, steps - group_start)
        with self._no_sync(not last_micro):
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        if last_micro:
            self._optimizer_step()
        return value

    def _lr(self) -> float:
        """The largest learning rate of the optimizer's groups (0 for a task that trains nothing)."""
        return max(g["lr"] for g in self.optimizer.param_groups) if self.optimizer is not None else 0.0

    def _optimizer_step(self) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.clip_grad is not None:
            from timm.utils import dispatch_clip_grad

            params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            dispatch_clip_grad(params, self.config.clip_grad, mode=self.config.clip_mode)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.task.eval_model())
        self.task.after_step()

    def _end_epoch(self, seconds: float) -> None:
        total, count = all_sum([self.partial[0], float(self.partial[1])], self.info, self.device)
        lr = self._lr()
        self._sync_buffers()
        scores = self._evaluate(self.task.eval_model())
        record = {
            "epoch": self.epoch + 1,
            "train_loss": total / max(count, 1),
            "train_samples": int(count),
            "eval_loss": scores["loss"],
            "eval_top1": scores["top1"],
            "eval_top5": scores["top5"],
            "lr": lr,
        }
        if self.ema is not None:
            ema_scores = self._evaluate(self.ema.module)
            record.update(ema_top1=ema_scores["top1"], ema_top5=ema_scores["top5"])
        record["seconds"] = round(seconds, 3)
        self.history.append(record)
        self.epoch, self.step, self.partial = self.epoch + 1, 0, (0.0, 0)
        if self.scheduler is not None:
            self.scheduler.step(self.epoch)
        improved = self.best is None or scores["top1"] > self.best
        self.best = scores["top1"] if improved else self.best
        self.save_checkpoint(best=improved)
        if self.out_dir is not None and self.info.main:
            write_records(self.out_dir, self.history)
        self.trackers.log_epoch(record)
        if self.config.progress and self.info.main:
            print(
                f"epoch {record['epoch']}/{self.config.epochs}: train_loss {record['train_loss']:.4f} "
                f"eval_top1 {record['eval_top1']:.4f} lr {lr:.3g} ({seconds:.1f}s)",
                file=sys.stderr,
                flush=True,
            )

    def _evaluate(self, model: nn.Module) -> dict[str, Any]:
        return evaluate(
            model,
            self.eval_set,
            self.task.model_input,
            self.device,
            batch_size=self.config.validation_batch_size or max(self.config.batch_size, 64),
            workers=self.config.workers,
            distributed=True,
            amp_dtype=self.amp_dtype,
        )

    def save_checkpoint(self, best: bool = False) -> None:
        gathered = [(rng_state(), list(self.partial))]
        if self.info.distributed:
            gathered = [None] * self.info.world_size
            dist.all_gather_object(gathered, (rng_state(), list(self.partial)))
        if not self.info.main or self.checkpoint_path is None:
            return
        states, partials = [g[0] for g in gathered], [g[1] for g in gathered]
        state = {
            "format": "effl-checkpoint-2",
            "model": {k: v.detach().cpu() for k, v in self.task.eval_model().state_dict().items()},
            "task": self.task.checkpoint_state(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "ema": self.ema.module.state_dict() if self.ema is not None else {},
            "epoch": self.epoch,
            "step": self.step,
            "partial_loss": self.partial[0],
            "partial_count": self.partial[1],
            "partials": partials,  # every rank's running loss sum and count: a mid-epoch resume sums them all
            "history": self.history,
            "best_top1": self.best,
            "rng": states,
            "config": self.config.to_dict(),
            "world_size": self.info.world_size,
            **{
                k: v
                for k, v in self.run_info.items()
                if k in ("arch", "num_classes", "class_names", "data_config", "args")
            },
        }
        if best:  # the best first: a kill between the two saves repeats the epoch, which rewrites it the same
            atomic_save(state, self.out_dir / BEST_NAME)
        atomic_save(state, self.checkpoint_path)

    def _wrap(self) -> None:
        """DDP around the task's trainable module (re-wrapped when the trainable set changed, e.g. after
        gradual unfreezing); frozen parts stay outside."""
        if not self.info.distributed or not self.task.trains:
            return
        flags = tuple(p.requires_grad for p in self.task.trainable.parameters())
        if flags == self._trainable_flags:
            return
        self.task.prepare_distributed(device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self._trainable_flags = flags

    def _no_sync(self, skip: bool):
        import contextlib

        net = self.task.net
        return net.no_sync() if skip and hasattr(net, "no_sync") else contextlib.nullcontext()

    def _sync_buffers(self) -> None:
        """Rank 0's BatchNorm statistics everywhere, so every rank evaluates (and rank 0 saves) one model."""
        if not self.info.distributed:
            return
        modules = [self.task] + ([self.ema.module] if self.ema is not None else [])
        for buffer in (b for m in modules for b in m.buffers()):
            dist.broadcast(buffer, src=0)

    def _on_any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` holds on some rank (one all-reduce under torchrun, none otherwise)."""
        if not self.info.distributed:
            return flag
        total = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(total)
        return bool(total.item() > 0)

    def _install_stop_signals(self) -> dict[int, Any]:
        """SIGTERM and Ctrl-C (SIGINT) ask the loop to stop after the running step (a second Ctrl-C
        interrupts at once); the previous handlers, to put back (none in a thread other than the main one)."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def request_stop(signum, frame):
            if signum == signal.SIGINT and self._stop is not None:
                signal.default_int_handler(signum, frame)
            self._stop = signum

        return {signum: signal.signal(signum, request_stop) for signum in (signal.SIGTERM, signal.SIGINT)}

    def _should_stop(self) -> bool:
        stop = self._on_any_rank(self._stop is not None)
        if stop and self._stop is None:
            self._stop = signal.SIGTERM  # another rank was asked
        return stop


def _rank_partial(state: dict[str, Any], rank: int, world_size: int) -> tuple[float, int]:
    """This rank's running (loss sum, count) of the epoch a checkpoint stopped in: its own under the saved world
    size, else all of it on rank 0; the saved one on every rank from a checkpoint without ``partials``."""
    partials = state.get("partials")
    if not partials:
        return float(state["partial_loss"]), int(state["partial_count"])
    if len(partials) == world_size:
        return float(partials[rank][0]), int(partials[rank][1])
    if rank:
        return 0.0, 0
    return float(sum(p[0] for p in partials)), int(sum(p[1] for p in partials))


def _ignore_ctrl_c(worker_id: int) -> None:
    """A training DataLoader worker ignores Ctrl-C: the main process stops the run and ends the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _resume_hint(run_info: dict[str, Any]) -> str:
    """How to continue a stopped run: the ``effl`` command with ``--resume`` when this process is one."""
    if not (run_info.get("args") or {}).get("command"):
        return "continue with resume=True (Engine.fit, or the strategy's run)"
    argv = sys.argv
    launched = Path(argv[0]).name == "effl" or argv[0].endswith(os.path.join("effl_plugins", "cli.py"))
    if not launched or (dist.is_available() and dist.is_initialized()):
        return "add --resume to the same command to continue"
    return "resume with: " + shlex.join(["effl", *argv[1:], *([] if "--resume" in argv else ["--resume"])])

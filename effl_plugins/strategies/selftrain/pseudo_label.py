"""Pseudo-labelling (Lee 2013, "Pseudo-Label"): train a teacher on the labeled images, let it label the
unlabeled ones (no noise: eval mode, the eval transform), keep the confident labels, balance the
classes (Xie et al. 2020) and train a student on both sets with the one engine.

Run directory: ``teacher/`` (when trained here), ``labels/`` (the pseudo-label store) and
``student/`` (the student's run), plus ``summary.json``.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..._validate import integer, positive
from ...data import DataBundle
from ...train import ModelInput, SupervisedTask, evaluate, resolve_device
from ...train.distributed import init_distributed
from ..base import STUDENT_SEED_OFFSET, Strategy, require_unlabeled
from .labeler import label_dataset
from .probability_targets import labeled_plus_pseudo
from .selection import balance_classes, confidence_filter, pseudo_targets
from .store import read_store
from .weights import model_hash

__all__ = ["PseudoLabel", "select_pseudo_labels", "TeacherCoverageWarning"]


class TeacherCoverageWarning(UserWarning):
    """The teacher's pseudo-labels leave some of the data's classes out (a teacher with fewer classes, or
    one that collapsed): the student cannot learn those classes from them."""


def select_pseudo_labels(probs: torch.Tensor, threshold: float = 0.0, balance: int | None = None) -> torch.Tensor:
    """Thresholding, then (with ``balance=K``) class balancing to ``K`` images per class; row indices."""
    kept = confidence_filter(probs, threshold)
    return balance_classes(probs, balance, kept) if balance is not None else kept


class PseudoLabel(Strategy):
    """Teacher -> pseudo-labels (hard or soft, thresholded, class-balanced) -> student.

    Args:
        model: the student's timm ``NAME[:CKPT]``.
        teacher: the teacher's ``NAME[:CKPT]``; None trains one of ``model``'s architecture on the labeled set.
        threshold: keep pseudo-labels whose top probability is ``>= threshold`` (0 keeps all).
        soft: train on the teacher's probabilities instead of one-hot argmax labels.
        temperature: softmax temperature of the teacher's probabilities (soft labels).
        balance: images per class after balancing (None: no balancing).
        augment: a batch augmentation SPEC for the student's batches (same as the ``aug`` setting).
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    name = "pseudo_label"

    def __init__(
        self,
        model: str = "test_resnet",
        teacher: str | None = None,
        threshold: float = 0.0,
        soft: bool = False,
        temperature: float = 1.0,
        balance: int | None = None,
        augment: str | None = None,
        **kwargs: Any,
    ):
        if augment is not None:
            kwargs.setdefault("aug", augment)
        super().__init__(model=model, **kwargs)
        positive(temperature, "temperature")
        confidence_filter(torch.zeros(0, 1), threshold)  # validates threshold
        integer(balance, "balance", low=1, optional=True, note="images per class")
        self.teacher, self.threshold, self.soft = teacher, threshold, bool(soft)
        self.temperature, self.balance = float(temperature), balance

    def run_identity_keys(self) -> tuple[str, ...]:
        return ("teacher", "threshold", "soft", "temperature", "balance")

    def prepare(self, device: str | None) -> None:
        """Apply ``device`` and join the process group before anything is labelled or trained."""
        self.with_device(device)
        init_distributed(resolve_device(self.config.device))

    def teacher_model(self, data: DataBundle, out: Path, resume: bool) -> tuple[nn.Module, ModelInput, str, float]:
        """The given teacher, or one trained on the labeled set: ``(model, input, hash, test accuracy)``."""
        spec = self.teacher or self.model
        teacher = self.build_model(spec, data.num_classes, drop=0.0, drop_path=0.0)
        if self.teacher is None:
            model_input = self.model_input(teacher, data)
            task = SupervisedTask(teacher, model_input, self.config.smoothing, self.config.bce_loss)
            run_dir = out / "teacher"
            self.engine(task, data, run_dir).fit(resume=resume and (run_dir / "checkpoint.pt").is_file())
        else:
            self.check_teacher_head(teacher, self.teacher, data.num_classes)
            model_input = self.model_input(teacher, data, spec=self.teacher)
        device = resolve_device(self.config.device)
        accuracy = evaluate(teacher.to(device), data.test, model_input, device, workers=self.config.workers)["top1"]
        return teacher, model_input, model_hash(spec, teacher), accuracy

    def label_and_select(
        self, teacher: nn.Module, model_input: ModelInput, digest: str, data: DataBundle, store: Path, resume: bool
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Label the unlabeled images into ``store``, read them back checked, select: ``(rows, targets, stats)``."""
        images = data.unlabeled_eval if getattr(data, "unlabeled_eval", None) is not None else data.unlabeled
        label_dataset(
            teacher,
            images,
            store,
            num_classes=data.num_classes,
            model_input=model_input,
            teacher_hash=digest,
            temperature=self.temperature,
            resume=resume,
            device=resolve_device(self.config.device),
            workers=self.config.workers,
            progress=self._progress,
        )
        labels = read_store(
            store, expected_ids=images.ids, expected_teacher_hash=digest, expected_num_classes=data.num_classes
        )
        chosen = select_pseudo_labels(labels.probs, self.threshold, self.balance)
        stats: dict[str, Any] = {"pseudo_labels": int(chosen.numel()), "unique_images": int(chosen.unique().numel())}
        predicted = labels.probs.argmax(dim=1)
        covered = int(predicted.unique().numel())
        if covered < data.num_classes:
            warnings.warn(
                f"the teacher predicts only {covered} of the {data.num_classes} classes on the unlabeled "
                f"images: its pseudo-labels leave {data.num_classes - covered} classes out",
                TeacherCoverageWarning,
                stacklevel=2,
            )
        if data.hidden_targets is not None and chosen.numel():
            stats["pseudo_label_accuracy"] = float((predicted[chosen] == data.hidden_targets[chosen]).float().mean())
        return chosen, pseudo_targets(labels.probs[chosen], self.soft), stats

    def _progress(self, done: int, total: int) -> None:
        if self.config.progress:
            print(f"pseudo-labelling: {done}/{total} images", file=sys.stderr, flush=True)

    def train_student(
        self, student: nn.Module, data: DataBundle, chosen, targets, run_dir: Path | None, resume: bool, config=None
    ) -> dict[str, Any]:
        train_set = labeled_plus_pseudo(data.labeled, data.unlabeled, chosen, targets, data.num_classes)
        task = self.supervised_task(student, data)
        resume = resume and run_dir is not None and (run_dir / "checkpoint.pt").is_file()
        return self.engine(task, data, run_dir, train_set=train_set, config=config).fit(resume=resume)

    @contextlib.contextmanager
    def teacher_run(self, data: DataBundle, out_dir, device, resume: bool):
        """Check the unlabeled set, prepare the run and yield ``(out, teacher, model_input, digest, accuracy)``;
        ``out`` is ``out_dir``, or a scratch folder removed at the end when there is none."""
        require_unlabeled(self.name, data)
        self.prepare(device)
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(out_dir) if out_dir is not None else Path(scratch)
            yield (out, *self.teacher_model(data, out, resume))

    def run(self, data: DataBundle, *, out_dir=None, device=None, resume: bool = False) -> dict[str, Any]:
        with self.teacher_run(data, out_dir, device, resume) as (out, teacher, model_input, digest, teacher_accuracy):
            chosen, targets, stats = self.label_and_select(teacher, model_input, digest, data, out / "labels", resume)
            student = self.build_model(self.model, data.num_classes, seed_offset=STUDENT_SEED_OFFSET)
            summary = self.train_student(student, data, chosen, targets, out / "student", resume)
        self.trained_model = student
        result = {
            "strategy": self.name,
            **summary,
            "teacher_accuracy": teacher_accuracy,
            "teacher_hash": digest,
            **stats,
        }
        self.write_summary(out_dir, result)
        return result

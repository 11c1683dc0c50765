"""Pseudo-labelling (Lee 2013, "Pseudo-Label"; the seeds' semi-supervised recipe): train a teacher
on the labeled images, let it label the unlabeled ones (no noise: eval mode, no augmentation), keep
the confident labels, balance the classes (Xie et al. 2020) and train a student on both sets.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoints import atomic_write_text
from ..data import DataBundle
from ..strategies.base import Strategy
from .labeler import label_dataset
from .selection import balance_classes, confidence_filter, pseudo_targets
from .store import read_store
from .training import build_model, labeled_plus_pseudo, model_hash, train_supervised

__all__ = ["PseudoLabel", "select_pseudo_labels", "label_and_select"]


def select_pseudo_labels(probs: torch.Tensor, threshold: float = 0.0, balance: int | None = None) -> torch.Tensor:
    """Thresholding, then (with ``balance=K``) class balancing to ``K`` images per class; row indices."""
    kept = confidence_filter(probs, threshold)
    return balance_classes(probs, balance, kept) if balance is not None else kept


def label_and_select(teacher: nn.Module, teacher_hash: str, data: DataBundle, store: Path, *, threshold: float, soft: bool,
                     temperature: float, balance: int | None, resume: bool, device: str) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Label ``data.unlabeled`` into ``store``, read it back, select; ``(images, targets, stats)``."""
    label_dataset(teacher, data.unlabeled, store, num_classes=data.num_classes, teacher_hash=teacher_hash,
                  temperature=temperature, resume=resume, device=device)
    labels = read_store(store, expected_ids=data.unlabeled.ids, expected_teacher_hash=teacher_hash,
                        expected_num_classes=data.num_classes)
    chosen = select_pseudo_labels(labels.probs, threshold, balance)
    stats: dict[str, Any] = {"pseudo_labels": int(chosen.numel()), "unique_images": int(chosen.unique().numel())}
    if data.hidden_targets is not None and chosen.numel():
        predicted = labels.probs[chosen].argmax(dim=1)
        stats["pseudo_label_accuracy"] = float((predicted == data.hidden_targets[chosen]).float().mean())
    return data.unlabeled.images[chosen], pseudo_targets(labels.probs[chosen], soft), stats


class PseudoLabel(Strategy):
    """Teacher -> pseudo-labels (hard or soft, thresholded, class-balanced) -> student.

    Args:
        model: the student's timm ``NAME[:CKPT]``.
        teacher: the teacher's ``NAME[:CKPT]``; None trains one of ``model``'s architecture on the labeled set.
        threshold: keep pseudo-labels whose top probability is ``>= threshold`` (0 keeps all).
        soft: train on the teacher's probabilities instead of one-hot argmax labels.
        temperature: softmax temperature of the teacher's probabilities (soft labels).
        balance: images per class after balancing (None: no balancing).
        augment: a batch augmentation (module or registered name) for the student's batches (None: none).
        epochs, batch_size, lr, weight_decay, seed, device: as in ``Strategy``.
    """

    name = "pseudo_label"

    def __init__(self, model: str = "test_resnet", teacher: str | None = None, threshold: float = 0.0, soft: bool = False,
                 temperature: float = 1.0, balance: int | None = None, augment: nn.Module | None = None, **kwargs):
        super().__init__(model=model, **kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        confidence_filter(torch.zeros(0, 1), threshold)  # validates threshold
        if balance is not None and (isinstance(balance, bool) or not isinstance(balance, int) or balance < 1):
            raise ValueError(f"balance must be None or an integer >= 1 images per class, got {balance!r}")
        if isinstance(augment, str):
            import effl_plugins as ep

            augment = ep.create_augmentation(augment)
        self.teacher, self.threshold, self.soft = teacher, threshold, bool(soft)
        self.temperature, self.balance, self.augment = temperature, balance, augment

    def teacher_model(self, data: DataBundle, out: Path) -> tuple[nn.Module, str, float]:
        """The given teacher, or one trained on the labeled set; ``(model, hash, test accuracy)``."""
        from ..engine import evaluate

        spec = self.teacher or self.model
        teacher = build_model(spec, data.num_classes, self.config.seed)
        if self.teacher is None:
            train_supervised(teacher, data.labeled, data.test, self.config, out / "teacher")
        return teacher, model_hash(spec, teacher), evaluate(teacher, data.test, self.config.device)

    def run(self, data: DataBundle, *, out_dir=None, resume: bool = False) -> dict[str, Any]:
        if data.unlabeled is None or len(data.unlabeled) == 0:
            raise ValueError(f"strategy {self.name!r} needs unlabeled images: data {data.name!r} has none")
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(out_dir) if out_dir is not None else Path(scratch)
            teacher, digest, teacher_accuracy = self.teacher_model(data, out)
            images, targets, stats = label_and_select(
                teacher, digest, data, out / "labels", threshold=self.threshold, soft=self.soft,
                temperature=self.temperature, balance=self.balance, resume=resume, device=self.config.device)
            student = build_model(self.model, data.num_classes, self.config.seed + 1)
            train_set = labeled_plus_pseudo(data.labeled, images, targets, data.num_classes)
            summary = train_supervised(student, train_set, data.test, self.config, out / "student", self.augment)
        self.trained_model = student
        result = {"strategy": self.name, **summary, "teacher_accuracy": teacher_accuracy, "teacher_hash": digest, **stats}
        if out_dir is not None:
            atomic_write_text(Path(out_dir) / "summary.json", json.dumps(result, indent=2) + "\n")
        return result

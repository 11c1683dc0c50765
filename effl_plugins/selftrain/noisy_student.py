"""Noisy Student training (Xie et al. 2020, "Self-training with Noisy Student improves ImageNet
classification"): a teacher labels the unlabeled images without noise; an equal-or-larger student
learns labeled + pseudo-labeled images under noise (RandAugment, dropout, stochastic depth); the
student becomes the next teacher; repeat for a few rounds.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from ..checkpoints import atomic_write_text
from ..data import DataBundle
from ..engine import evaluate
from ..models import create_model
from .pseudo_label import PseudoLabel, label_and_select
from .store import state_dict_hash
from .training import build_model, labeled_plus_pseudo, noise_augmentation, save_weights, train_supervised

__all__ = ["NoisyStudent"]


class NoisyStudent(PseudoLabel):
    """Rounds of label (clean teacher) -> train a noised student -> swap.

    Args:
        model: the first teacher's timm ``NAME[:CKPT]`` (trained on the labeled set unless ``teacher`` is given).
        students: one timm name per round (equal or larger models); default ``[model] * rounds``. A
            shorter list repeats its last name.
        rounds: number of teacher -> student rounds (default 3).
        num_ops, magnitude: RandAugment noise (N ops at magnitude M on the 0..30 scale).
        drop_rate, drop_path_rate: dropout before the classifier and stochastic depth of the students.
        threshold, soft, temperature, balance: pseudo-label selection, as in ``pseudo_label``.
        epochs, batch_size, lr, weight_decay, seed, device: as in ``Strategy`` (per round).
    """

    name = "noisy_student"

    def __init__(self, model: str = "test_resnet", students: Sequence[str] | None = None, rounds: int = 3, num_ops: int = 2,
                 magnitude: float = 15.0, drop_rate: float = 0.3, drop_path_rate: float = 0.1, **kwargs):
        super().__init__(model=model, **kwargs)
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
        students = [students] if isinstance(students, str) else list(students or [model.partition(":")[0]])
        if not students or not all(isinstance(s, str) and s for s in students):
            raise ValueError(f"students must be a list of timm model names, got {students!r}")
        self.students = [students[min(i, len(students) - 1)] for i in range(rounds)]
        for key, value in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"{key} must be in [0, 1), got {value!r}")
        self.rounds, self.num_ops, self.magnitude = rounds, num_ops, magnitude
        self.drop_rate, self.drop_path_rate = drop_rate, drop_path_rate

    def student_model(self, name: str, num_classes: int, round_index: int) -> nn.Module:
        return build_model(name, num_classes, self.config.seed + 1 + round_index, self.drop_rate, self.drop_path_rate)

    def noise(self) -> nn.Module:
        return self.augment if self.augment is not None else noise_augmentation(self.num_ops, self.magnitude)

    def run(self, data: DataBundle, *, out_dir=None, resume: bool = False) -> dict[str, Any]:
        if data.unlabeled is None or len(data.unlabeled) == 0:
            raise ValueError(f"strategy {self.name!r} needs unlabeled images: data {data.name!r} has none")
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(out_dir) if out_dir is not None else Path(scratch)
            teacher, digest, teacher_accuracy = self.teacher_model(data, out)
            teacher_name, rounds = self.teacher or self.model, []
            for index, student_name in enumerate(self.students):
                round_dir = out / f"round-{index + 1}"
                student, record = self.run_round(data, teacher, digest, student_name, index, round_dir, resume)
                rounds.append({"round": index + 1, "teacher": teacher_name, "student": student_name, **record})
                teacher, digest, teacher_name = student, state_dict_hash(student), student_name
        self.trained_model = teacher
        accuracies = [r["accuracy"] for r in rounds]
        result = {"strategy": self.name, "best_accuracy": max(accuracies), "final_accuracy": accuracies[-1],
                  "epochs": self.config.epochs * self.rounds, "teacher_accuracy": teacher_accuracy, "rounds": rounds}
        if out_dir is not None:
            atomic_write_text(Path(out_dir) / "summary.json", json.dumps(result, indent=2) + "\n")
        return result

    def run_round(self, data: DataBundle, teacher: nn.Module, digest: str, student_name: str, index: int,
                  round_dir: Path, resume: bool) -> tuple[nn.Module, dict[str, Any]]:
        """One round; a finished round (weights + record on disk) is reloaded under ``resume``."""
        weights, record_path = round_dir / "student.safetensors", round_dir / "round.json"
        if resume and weights.is_file() and record_path.is_file():
            record = json.loads(record_path.read_text())
            if record.get("teacher_hash") == digest:
                return create_model(f"{student_name}:{weights}", data.num_classes), record
        start = time.perf_counter()
        images, targets, stats = label_and_select(
            teacher, digest, data, round_dir / "labels", threshold=self.threshold, soft=self.soft,
            temperature=self.temperature, balance=self.balance, resume=resume, device=self.config.device)
        student = self.student_model(student_name, data.num_classes, index)
        train_set = labeled_plus_pseudo(data.labeled, images, targets, data.num_classes)
        summary = train_supervised(student, train_set, data.test, self.config, round_dir, self.noise())
        record = {"accuracy": evaluate(student, data.test, self.config.device), "best_accuracy": summary["best_accuracy"],
                  "teacher_hash": digest, "seconds": round(time.perf_counter() - start, 2), **stats}
        save_weights(student, weights)
        atomic_write_text(record_path, json.dumps(record, indent=2) + "\n")
        return student, record

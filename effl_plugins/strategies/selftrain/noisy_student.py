"""Noisy Student training (Xie et al. 2020, "Self-training with Noisy Student improves ImageNet
classification"): a teacher labels the unlabeled images without noise; an equal-or-larger student
learns labeled + pseudo-labeled images under noise (an input augmentation SPEC, RandAugment by
default; dropout; stochastic depth); the student becomes the next teacher; repeat for a few rounds.

Run directory: ``teacher/`` (the first teacher, when trained here) and ``round-N/`` per round
(``labels/``, the student's run in ``student/``, ``student.safetensors`` and ``round.json``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from ..._validate import fraction, integer
from ...data import DataBundle
from ...models import create_model
from ...train import evaluate, resolve_device
from ...train.checkpoints import atomic_write_text
from ...train.specs import resolved_augmentation
from ..base import STUDENT_SEED_OFFSET
from .pseudo_label import PseudoLabel
from .store import state_dict_hash
from .weights import save_weights

__all__ = ["NoisyStudent"]


class NoisyStudent(PseudoLabel):
    """Rounds of label (clean teacher) -> train a noised student -> swap.

    Args:
        model: the first teacher's timm ``NAME[:CKPT]`` (trained on the labeled set unless ``teacher`` is given).
        students: one timm name per round (equal or larger models); default ``[model] * rounds``. A
            shorter list repeats its last name.
        rounds: number of teacher -> student rounds (default 3).
        noise: the students' input noise, a batch augmentation SPEC (default RandAugment N=2, M=15);
            the ``aug`` setting, when given, replaces it.
        drop_rate, drop_path_rate: dropout before the classifier and stochastic depth of the students.
        threshold, soft, temperature, balance: pseudo-label selection, as in ``pseudo_label``.
        Every other shared setting (per round): see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    #: Arguments of the conformance checks (effl_plugins.testing): two rounds, the fewest that swap.
    conformance_kwargs = {"rounds": 2}

    name = "noisy_student"
    #: Its students take their own noise; its teachers none (the model options would reach no model).
    refused_settings = {
        "drop_path": "gives its students stochastic depth through --strategy-arg drop_path_rate=P (default 0.1; "
        "teachers have none): pass it instead of --drop-path",
        "drop": "gives its students dropout through --strategy-arg drop_rate=P (default 0.3; teachers have "
        "none): pass it instead of --drop",
    }

    def __init__(
        self,
        model: str = "test_resnet",
        students: Sequence[str] | None = None,
        rounds: int = 3,
        noise: str = "rand_augment(num_ops=2, magnitude=15)",
        drop_rate: float = 0.3,
        drop_path_rate: float = 0.1,
        **kwargs: Any,
    ):
        super().__init__(model=model, **kwargs)
        integer(rounds, "rounds", low=1)
        students = [students] if isinstance(students, str) else list(students or [model.partition(":")[0]])
        if not students or not all(isinstance(s, str) and s for s in students):
            raise ValueError(f"students must be a list of timm model names, got {students!r}")
        self.students = [students[min(i, len(students) - 1)] for i in range(rounds)]
        for key, value in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
            fraction(value, key, below_one=True)
        self.rounds, self.noise = rounds, resolved_augmentation(noise) if not self.config.aug else noise
        self.drop_rate, self.drop_path_rate = drop_rate, drop_path_rate

    def run_identity_keys(self) -> tuple[str, ...]:
        return (*super().run_identity_keys(), "students", "rounds", "noise")

    def run(self, data: DataBundle, *, out_dir=None, device=None, resume: bool = False) -> dict[str, Any]:
        with self.teacher_run(data, out_dir, device, resume) as (out, teacher, model_input, digest, teacher_accuracy):
            teacher_name, rounds = self.teacher or self.model, []
            for index, student_name in enumerate(self.students):
                student, record = self.run_round(
                    data, teacher, model_input, digest, student_name, index, out / f"round-{index + 1}", resume
                )
                rounds.append({"round": index + 1, "teacher": teacher_name, "student": student_name, **record})
                teacher, digest, teacher_name = student, state_dict_hash(student), student_name
                model_input = self.model_input(student, data)
        self.trained_model = teacher
        accuracies = [r["accuracy"] for r in rounds]
        result = {
            "strategy": self.name,
            "best_accuracy": max(accuracies),
            "final_accuracy": accuracies[-1],
            "epochs": self.config.epochs * self.rounds,
            "teacher_accuracy": teacher_accuracy,
            "rounds": rounds,
        }
        self.write_summary(out_dir, result)
        return result

    def run_round(
        self,
        data: DataBundle,
        teacher: nn.Module,
        model_input,
        digest: str,
        student_name: str,
        index: int,
        round_dir: Path,
        resume: bool,
    ) -> tuple[nn.Module, dict[str, Any]]:
        """One round; a finished round (weights + record on disk) is reloaded under ``resume``."""
        weights, record_path = round_dir / "student.safetensors", round_dir / "round.json"
        if resume and weights.is_file() and record_path.is_file():
            record = json.loads(record_path.read_text())
            if record.get("teacher_hash") == digest:
                sizes = {"img_size": self.config.img_size, "model_kwargs": self.config.model_kwargs or None}
                return create_model(f"{student_name}:{weights}", data.num_classes, **sizes), record
        start = time.perf_counter()
        chosen, targets, stats = self.label_and_select(teacher, model_input, digest, data, round_dir / "labels", resume)
        student = self.build_model(
            student_name,
            data.num_classes,
            seed_offset=STUDENT_SEED_OFFSET + index,
            drop=self.drop_rate,
            drop_path=self.drop_path_rate,
        )
        config = self.config if self.config.aug else self.config.replace(aug=self.noise)
        summary = self.train_student(student, data, chosen, targets, round_dir / "student", resume, config=config)
        device = resolve_device(self.config.device)
        model_input = self.model_input(student, data)
        accuracy = evaluate(student, data.test, model_input, device, workers=self.config.workers)["top1"]
        record = {
            "accuracy": accuracy,
            "best_accuracy": summary["best_accuracy"],
            "teacher_hash": digest,
            "seconds": round(time.perf_counter() - start, 2),
            **stats,
        }
        save_weights(student, weights)
        atomic_write_text(record_path, json.dumps(record, indent=2) + "\n")
        return student, record

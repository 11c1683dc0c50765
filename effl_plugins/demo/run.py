"""Data-efficient learning end to end on the embedded digits (100 labels, the rest unlabeled):
supervised baseline -> fine-tuning -> pseudo-labelling -> Noisy Student rounds -> knowledge
distillation of the last Noisy Student into a fresh student, beside that student trained alone for as
many steps -> FixMatch. Each stage records its test accuracy and wall time in ``report.json``.

The distillation stage's teacher is stronger than its student by construction: it learned from the
unlabeled digits through self-training, which the student alone cannot (distillation transfers what
a teacher knows; a teacher no better than the student has nothing to give).

Every stage is seeded; the whole run uses one CPU thread (reproducible, and fastest on a shared
2-core machine), so ``run_demo(seed=s)`` gives the same accuracies every time.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..data import DataBundle, DataConfig, build_data, resolve_data_config
from ..train.checkpoints import atomic_write_text

__all__ = ["DemoPlan", "PLANS", "run_demo", "demo_data", "whole_image_digits"]

#: The digits are 8x8 images upsampled to 32x32: the demo trains at that size, on the whole image
#: (no random crop: a crop of a digit is often another digit), with no flip (digits are not mirror-symmetric).
DEMO_IMAGE_SIZE = 32


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of one demo run: epochs per stage and how much of the unlabeled set is used."""

    unlabeled: int | None  # None: all 1,337 unlabeled digits
    baseline_epochs: int
    finetune_epochs: int
    kd_epochs: int
    student_epochs: int
    rounds: int
    fixmatch_epochs: int
    student_batch: int = 64
    model: str = "test_resnet"
    students: tuple[str, ...] = ("test_resnet",)


PLANS = {
    "full": DemoPlan(
        unlabeled=None,
        baseline_epochs=40,
        finetune_epochs=15,
        kd_epochs=8,
        student_epochs=10,
        rounds=3,
        fixmatch_epochs=5,
    ),
}
# the full demo's stages with one Noisy Student round: the same story in about two thirds of the time
PLANS["quick"] = replace(PLANS["full"], rounds=1)


#: Labeled digits of the demo by default (10 per class).
DEFAULT_LABELS = 100


def demo_data(
    model: str, seed: int, unlabeled: int | None, labels: int = DEFAULT_LABELS, labeled_seed: int | None = None
) -> DataBundle:
    """The embedded digits (``labels`` labeled, class-stratified; ``labeled_seed`` draws which, see
    ``digits_split``) through the engine's transforms at 32 px, whole image, no flip."""
    import timm

    config: DataConfig = resolve_data_config(
        model=timm.create_model(model.partition(":")[0], num_classes=10), img_size=DEMO_IMAGE_SIZE, crop_pct=1.0
    )
    data = whole_image_digits(config, labels, seed, labeled_seed)
    if unlabeled is not None:
        data.unlabeled = data.unlabeled.subset(range(unlabeled))
        data.unlabeled_eval = data.unlabeled_eval.subset(range(unlabeled))
        data.hidden_targets = data.hidden_targets[:unlabeled]
    return data


def whole_image_digits(config: DataConfig, labels: int, seed: int, labeled_seed: int | None = None) -> DataBundle:
    """The embedded digits (``labels`` labeled, class-stratified; ``labeled_seed`` draws which, see
    ``digits_split``) through the engine's transforms at ``config``'s size: the whole image, no flip (a crop
    of a digit is often another digit, and digits are not mirror-symmetric)."""
    return build_data(
        "digits",
        config,
        num_labeled=labels,
        scale=(1.0, 1.0),
        ratio=(1.0, 1.0),
        hflip=0.0,
        seed=seed,
        labeled_seed=labeled_seed,
    )


def _stages(plan: DemoPlan, data: DataBundle, out: Path, seed: int) -> list[tuple[str, Callable[[], float]]]:
    from .._api import create_strategy

    model = plan.model
    baseline_ckpt = out / "baseline" / "checkpoint.pt"
    shared = {"seed": seed, "weight_decay": 1e-4, "progress": False, "device": "cpu"}

    def strategy(name: str, out_name: str, **kwargs: Any) -> Callable[[], float]:
        def stage() -> float:
            run = create_strategy(name, **{"model": model, **shared, **kwargs})
            summary = run.run(data, out_dir=out / out_name)
            stage.summary = summary
            return summary["final_accuracy"]

        return stage

    teacher = f"{model}:{baseline_ckpt}"
    student_kwargs = dict(epochs=plan.student_epochs, batch_size=plan.student_batch, lr=3e-3, teacher=teacher)
    self_trained = f"{model}:{out / 'noisy_student' / f'round-{plan.rounds}' / 'student' / 'checkpoint.pt'}"
    kd_steps = plan.kd_epochs * math.ceil((len(data.labeled) + len(data.unlabeled)) / plan.student_batch)
    alone_epochs = max(1, round(kd_steps / math.ceil(len(data.labeled) / 32)))
    return [
        (
            "supervised baseline",
            strategy("finetune", "baseline", epochs=plan.baseline_epochs, batch_size=32, lr=3e-3, backbone_lr=3e-3),
        ),
        (
            "fine-tune (discriminative LR)",
            strategy(
                "finetune",
                "finetune",
                model=teacher,
                epochs=plan.finetune_epochs,
                batch_size=32,
                lr=3e-3,
                backbone_lr=3e-4,
                aug="brightness",
            ),
        ),
        (
            "pseudo-labelling",
            strategy("pseudo_label", "pseudo_label", threshold=0.7, augment="brightness", **student_kwargs),
        ),
        (
            "noisy student",
            strategy(
                "noisy_student",
                "noisy_student",
                rounds=plan.rounds,
                students=list(plan.students),
                threshold=0.7,
                **student_kwargs,
            ),
        ),
        (
            "student alone (as many steps as kd)",
            strategy("finetune", "alone", epochs=alone_epochs, batch_size=32, lr=3e-3, backbone_lr=3e-3),
        ),
        (
            "kd from the last noisy student",
            strategy(
                "distill",
                "distill",
                teacher=self_trained,
                teacher_epochs=0,
                epochs=plan.kd_epochs,
                batch_size=plan.student_batch,
                lr=3e-3,
                loss="kd",
                loss_args={"temperature": 4.0, "alpha": 0.7},
            ),
        ),
        (
            "fixmatch (from the baseline)",
            strategy(
                "fixmatch",
                "fixmatch",
                model=teacher,
                epochs=plan.fixmatch_epochs,
                batch_size=32,
                lr=1e-3,
                mu=3,
                flip=False,
                threshold=0.95,
            ),
        ),
    ]


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def run_demo(
    out_dir: str | Path,
    seed: int = 0,
    quick: bool = False,
    log: Callable[[str], None] = print,
    labels: int = DEFAULT_LABELS,
    announce: Callable[[str], None] = _to_stderr,
) -> dict[str, Any]:
    """Run every stage; write ``out_dir/report.json`` and ``out_dir/accuracy.png``; return the report.

    ``log`` gets a table row as each stage ends; ``announce`` (default: stderr) a line as each stage starts
    and ends, with the stage's number, name and the time since the demo began (``M:SS``)."""
    began = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plan = PLANS["quick" if quick else "full"]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        data = demo_data(plan.model, seed, plan.unlabeled, labels)
        stages = []
        planned = _stages(plan, data, out, seed)
        for number, (name, stage) in enumerate(planned, 1):
            start = time.perf_counter()
            announce(f"demo: stage {number}/{len(planned)} {name}: started at {_clock(start - began)}")
            accuracy = stage()
            seconds = round(time.perf_counter() - start, 2)
            announce(
                f"demo: stage {number}/{len(planned)} {name}: done in {seconds:.1f}s, accuracy {accuracy:.2%} "
                f"(at {_clock(time.perf_counter() - began)})"
            )
            rounds = getattr(stage, "summary", {}).get("rounds", [])
            for record in rounds:  # one row per round (the first also carries the first teacher's set-up)
                first = record["round"] == 1
                spent = seconds - sum(r["seconds"] for r in rounds[1:]) if first else record["seconds"]
                stages.append(
                    {
                        "name": f"{name} round {record['round']}",
                        "accuracy": record["accuracy"],
                        "seconds": round(spent, 2),
                    }
                )
            if not rounds:
                stages.append({"name": name, "accuracy": accuracy, "seconds": seconds})
            log(f"{name:<36} {accuracy:7.2%} {seconds:7.1f}s")
        report = {
            "dataset": "digits",
            "labeled": len(data.labeled),
            "unlabeled": len(data.unlabeled),
            "test": len(data.test),
            "seed": seed,
            "quick": quick,
            "stages": stages,
        }
        atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        from .plot import plot_report

        plot_report(report, out / "accuracy.png")
        return report
    finally:
        torch.set_num_threads(threads)

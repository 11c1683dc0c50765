"""The seeds' story end to end on the embedded digits (100 labels, the rest unlabeled):
supervised baseline -> fine-tuning -> knowledge distillation -> pseudo-labelling -> Noisy Student
rounds -> FixMatch. Each stage records its test accuracy and wall time in ``report.json``.

Every stage is seeded; the whole run uses one CPU thread (reproducible, and fastest on a shared
2-core machine), so ``run_demo(seed=s)`` gives the same accuracies every time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..checkpoints import atomic_write_text
from ..data import DataBundle, load_digits
from ..engine import TrainConfig, evaluate, fit, make_loader, normalize, seed_everything
from ..finetune import discriminative_param_groups
from .training import build_model, save_weights, train_supervised

__all__ = ["DemoPlan", "PLANS", "run_demo", "distill_on_unlabeled"]


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
    "full": DemoPlan(unlabeled=None, baseline_epochs=40, finetune_epochs=15, kd_epochs=8, student_epochs=10, rounds=3,
                     fixmatch_epochs=5),
    "quick": DemoPlan(unlabeled=300, baseline_epochs=20, finetune_epochs=4, kd_epochs=6, student_epochs=8, rounds=1,
                      fixmatch_epochs=2, student_batch=32),
}


def _config(epochs: int, seed: int, lr: float = 3e-3, batch_size: int = 32) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=1e-4, seed=seed, progress=False)


def distill_on_unlabeled(student, teacher, data: DataBundle, config: TrainConfig, temperature: float = 4.0,
                         alpha: float = 0.7) -> float:
    """Hinton KD (the registered ``kd`` loss): the student matches the teacher's softened outputs on
    labeled and unlabeled images alike, plus ``(1 - alpha)`` cross-entropy on the labeled ones.
    Returns the student's final test accuracy."""
    import effl_plugins as ep

    kd = ep.create_loss("kd", temperature=temperature)
    images = torch.cat([data.labeled.images, data.unlabeled.images])
    targets = torch.cat([data.labeled.targets, torch.full((len(data.unlabeled),), -1)])
    loader = make_loader(torch.utils.data.TensorDataset(images, targets), config.batch_size * 2, shuffle=True, seed=config.seed)
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    teacher.eval()
    seed_everything(config.seed)
    for _ in range(config.epochs):
        student.train()
        for x, y in loader:
            x = normalize(x)
            with torch.no_grad():
                teacher_logits = teacher(x)
            logits = student(x)
            loss = alpha * kd(logits, teacher_logits)["loss"]
            known = y >= 0
            if known.any():
                loss = loss + (1 - alpha) * F.cross_entropy(logits[known], y[known])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return evaluate(student, data.test)


def _stages(plan: DemoPlan, data: DataBundle, out: Path, seed: int) -> list[tuple[str, Callable[[], float]]]:
    import effl_plugins as ep

    model, nc = plan.model, data.num_classes
    baseline_ckpt = out / "baseline.safetensors"

    def baseline() -> float:
        net = build_model(model, nc, seed)
        train_supervised(net, data.labeled, data.test, _config(plan.baseline_epochs, seed))
        save_weights(net, baseline_ckpt)
        return evaluate(net, data.test)

    def finetune() -> float:  # the seeds' second transfer recipe: low LR backbone, high LR head
        net = build_model(f"{model}:{baseline_ckpt}", nc, seed)
        config = _config(plan.finetune_epochs, seed, lr=1e-3)
        optimizer = torch.optim.AdamW(discriminative_param_groups(net, 3e-4, 3e-3, 1e-4))
        fit(net, data.labeled, data.test, optimizer, config, augment=ep.create_augmentation("brightness"))
        return evaluate(net, data.test)

    def distill() -> float:
        teacher = build_model(f"{model}:{baseline_ckpt}", nc, seed)
        student = build_model(model, nc, seed + 1)
        return distill_on_unlabeled(student, teacher, data, _config(plan.kd_epochs, seed, batch_size=plan.student_batch // 2))

    def strategy(name: str, **kwargs: Any) -> Callable[[], float]:
        def stage() -> float:
            run = ep.create_strategy(name, **{"model": model, "seed": seed, "weight_decay": 1e-4, **kwargs})
            run.config.progress = False
            summary = run.run(data, out_dir=out / name)
            stage.summary = summary
            return summary["final_accuracy"]
        return stage

    teacher = f"{model}:{baseline_ckpt}"
    student_kwargs = dict(epochs=plan.student_epochs, batch_size=plan.student_batch, lr=3e-3, teacher=teacher)
    return [
        ("supervised baseline", baseline),
        ("fine-tune (discriminative LR)", finetune),
        ("knowledge distillation (kd)", distill),
        ("pseudo-labelling", strategy("pseudo_label", threshold=0.7, augment="brightness", **student_kwargs)),
        ("noisy student", strategy("noisy_student", rounds=plan.rounds, students=list(plan.students), threshold=0.7,
                                   **student_kwargs)),
        ("fixmatch (from the baseline)", strategy("fixmatch", model=teacher, epochs=plan.fixmatch_epochs, batch_size=32,
                                                  lr=1e-3, mu=3, flip=False, threshold=0.95)),
    ]


def run_demo(out_dir: str | Path, seed: int = 0, quick: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage; write ``out_dir/report.json`` and ``out_dir/accuracy.png``; return the report."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plan = PLANS["quick" if quick else "full"]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        data = load_digits(num_labeled=100, image_size=32)
        if plan.unlabeled is not None:
            data.unlabeled = data.unlabeled.subset(range(plan.unlabeled))
            data.hidden_targets = data.hidden_targets[: plan.unlabeled]
        stages = []
        for name, stage in _stages(plan, data, out, seed):
            start = time.perf_counter()
            accuracy = stage()
            seconds = round(time.perf_counter() - start, 2)
            rounds = getattr(stage, "summary", {}).get("rounds", [])
            for record in rounds:  # one row per round (the first also carries the first teacher's set-up)
                first = record["round"] == 1
                spent = seconds - sum(r["seconds"] for r in rounds[1:]) if first else record["seconds"]
                stages.append({"name": f"{name} round {record['round']}", "accuracy": record["accuracy"],
                               "seconds": round(spent, 2)})
            if not rounds:
                stages.append({"name": name, "accuracy": accuracy, "seconds": seconds})
            log(f"{name:<36} {accuracy:7.2%} {seconds:7.1f}s")
        report = {"dataset": "digits", "labeled": len(data.labeled), "unlabeled": len(data.unlabeled),
                  "test": len(data.test), "seed": seed, "quick": quick, "stages": stages}
        atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
        from .plot import plot_report

        plot_report(report, out / "accuracy.png")
        return report
    finally:
        torch.set_num_threads(threads)

"""Does distillation help a student with few labels, and which loss helps most? On the embedded digits,
split four ways per seed: 360 test digits (fixed), the student's ``STUDENT_LABELS`` labeled digits, a pool
of further labeled digits that only the teacher sees (``TEACHER_LABELS`` in all, the student's included),
and the unlabeled rest (837 digits, whose labels nobody sees). The teacher (``resnet10t``, larger than the
student) is stronger by construction, from more labels, never from the student's unlabeled images.

- *alone*: the student (``test_resnet``) on its labeled digits, as many optimizer steps as each distilled
  student (``alone``), and twice as many (``alone_long``); the table compares with the better of the two.
- *teacher*: ``resnet10t`` on the teacher's labeled digits, once per seed, shared by every loss.
- one row per registered loss: a fresh student distilled from that teacher on its labeled digits (the
  loss with targets) plus the unlabeled ones (the loss without), ``L_labeled + L_unlabeled`` a step.

Every run trains on the whole 32 px digit (no crop, no flip), with AdamW and a cosine schedule on one CPU
thread, and reports its final-epoch test accuracy; ``--aug SPEC`` gives every run (alone, teacher,
distilled) the same batch augmentation, e.g. ``--aug weak``: a per-sample translation by up to 12.5 % of
the side (``WEAK_AUG``, the self-training benchmark's weak view). The seed
changes the labeled digits (the student's and the teacher's), the initialisation, the order and the
augmentations.

    python -m effl_plugins.bench.distill --seeds 0 1 2 [--losses kd dkd ...] [--aug weak|SPEC]
        [--loss-arg KEY=VALUE ...] [--live-teacher] [--out DIR]

Each seed's teacher is recorded once on the students' views (a teacher cache, all classes kept) and every
logit loss learns from the stored outputs; losses that need the teacher's features or raw logits run the
live teacher (``--live-teacher``: every loss does).

Writes ``DIR/distill.json`` (every run) and ``DIR/distill.md`` (mean and spread per method).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .results import write_json_report

#: Losses the table leaves out: the tutorial's example loss is no distillation method.
SKIPPED = ("example_cosine",)
#: Student, teacher and the schedule of the comparison.
STUDENT, TEACHER = "test_resnet", "resnet10t"
STUDENT_LABELS, TEACHER_LABELS = 100, 600
TEACHER_EPOCHS, DISTILL_EPOCHS, BATCH_SIZE, LR = 40, 8, 32, 3e-3
#: ``--aug weak``: the self-training benchmark's weak view (see ``bench.ssl``).
WEAK_AUG = "translate(max_fraction=0.125, axis='both', whole_pixels=True, interpolation='nearest')"
BASELINES = ("alone", "alone_long", "teacher")


def _common(seed: int, aug: str | None = None) -> dict[str, Any]:
    return {
        "batch_size": BATCH_SIZE,
        "seed": seed,
        "lr": LR,
        "weight_decay": 1e-4,
        "progress": False,
        "device": "cpu",
        "aug": aug,
    }


def split_data(seed: int):
    """``(student_data, teacher_data)``: the teacher's bundle holds ``TEACHER_LABELS`` labeled digits
    (class-stratified, drawn by ``seed``); the student's holds ``STUDENT_LABELS`` of them (class-stratified)
    and the same unlabeled digits, which neither sees with labels."""
    from ..demo.run import demo_data
    from .ssl import split_labeled

    teacher_data = demo_data(STUDENT, seed, None, labels=TEACHER_LABELS, labeled_seed=seed)
    unlabeled, unlabeled_eval, hidden = teacher_data.unlabeled, teacher_data.unlabeled_eval, teacher_data.hidden_targets
    student_data = split_labeled(replace(teacher_data), STUDENT_LABELS, seed=seed)
    student_data.unlabeled, student_data.unlabeled_eval, student_data.hidden_targets = unlabeled, unlabeled_eval, hidden
    return student_data, teacher_data


def distill_steps(student_data) -> int:
    """Optimizer steps of one distilled student: its epochs over the labeled plus unlabeled digits."""
    return DISTILL_EPOCHS * math.ceil((len(student_data.labeled) + len(student_data.unlabeled)) / BATCH_SIZE)


def alone_epochs(student_data, steps: int) -> int:
    """Epochs over the labeled digits that make ``steps`` optimizer steps."""
    return max(1, round(steps / math.ceil(len(student_data.labeled) / BATCH_SIZE)))


def run_seed(
    seed: int,
    losses: Sequence[str],
    out: Path,
    log=print,
    aug: str | None = None,
    loss_args: dict[str, Any] | None = None,
    cached: bool = True,
) -> list[dict[str, Any]]:
    """One seed: the two alone runs, the teacher, then one distilled student per loss (every run under the
    batch augmentation ``aug``, a SPEC, or none; every loss built with ``loss_args``). ``cached``: the
    teacher's outputs are recorded once (``teacher-cache``, all classes) and every loss that can learn from
    them does (the others keep the live teacher); rows then carry ``"teacher": "cache"`` or ``"live"``."""
    from .._api import create_strategy

    student_data, teacher_data = split_data(seed)
    steps = distill_steps(student_data)
    rows = []

    def record(method: str, summary: dict, start: float, **extra: Any) -> None:
        seconds = round(time.perf_counter() - start, 1)
        row = {"seed": seed, "method": method, "accuracy": summary["final_accuracy"], "seconds": seconds, **extra}
        rows.append(row)
        log(f"seed {seed}: {method:<20} {summary['final_accuracy']:.4f} ({seconds} s)")

    for method, factor in (("alone", 1), ("alone_long", 2)):
        start = time.perf_counter()
        epochs = alone_epochs(student_data, factor * steps)
        run = create_strategy("finetune", model=STUDENT, epochs=epochs, backbone_lr=LR, **_common(seed, aug))
        record(method, run.run(student_data), start)
    teacher_dir = out / f"teacher-{seed}"
    start = time.perf_counter()
    teacher = create_strategy("finetune", model=TEACHER, epochs=TEACHER_EPOCHS, backbone_lr=LR, **_common(seed, aug))
    record(
        "teacher",
        teacher.run(teacher_data, out_dir=teacher_dir, resume=(teacher_dir / "checkpoint.pt").is_file()),
        start,
    )
    teacher_spec = f"{TEACHER}:{teacher_dir / 'checkpoint.pt'}"
    cache = out / f"teacher-cache-{seed}" if cached else None
    if cache is not None and not (cache / "teacher-cache.json").is_file():
        start = time.perf_counter()
        recorder = create_strategy(
            "distill", model=STUDENT, teacher=teacher_spec, epochs=DISTILL_EPOCHS, **_common(seed, aug)
        )
        written = recorder.record_cache(student_data, cache)
        log(f"seed {seed}: teacher cache         {written['views']} views ({time.perf_counter() - start:.1f} s)")
    for loss in losses:
        start = time.perf_counter()
        source = {"teacher": teacher_spec, "teacher_epochs": 0}
        if cache is not None and can_read_cache(loss, loss_args):
            source = {"teacher_cache": str(cache)}
        strategy = create_strategy(
            "distill",
            model=STUDENT,
            loss=loss,
            loss_args=loss_args,
            epochs=DISTILL_EPOCHS,
            **source,
            **_common(seed, aug),
        )
        extra = {"teacher": "cache" if "teacher_cache" in source else "live"} if cached else {}
        record(loss, strategy.run(student_data), start, **extra)
    return rows


def can_read_cache(loss: str, loss_args: dict[str, Any] | None) -> bool:
    """Whether a student can learn through ``loss`` from a teacher cache (no feature maps, no raw logits)."""
    from .._api import create_loss
    from ..strategies.teacher_cache import RAW_LOGIT_LOSSES
    from ..train.tasks.distillation import feature_levels

    return loss not in RAW_LOGIT_LOSSES and not feature_levels(create_loss(loss, **(loss_args or {})))


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per method, mean ± standard deviation over seeds, and the gain over the better
    of the two alone runs (their means)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {m: [r["accuracy"] for r in rows if r["method"] == m] for m in methods}
    alone = max(statistics.mean(by[m]) for m in ("alone", "alone_long") if m in by)
    lines = ["| method | mean accuracy (%) | sd | vs best alone | seeds |", "|---|---:|---:|---:|---:|"]
    for method in methods:
        values = by[method]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        gain = "" if method in BASELINES else f"{100 * (statistics.mean(values) - alone):+.1f} pts"
        lines.append(f"| {method} | {100 * statistics.mean(values):.1f} | {100 * sd:.1f} | {gain} | {len(values)} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    import effl_plugins as ep

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--losses", nargs="+", default=None, help="default: every registered loss")
    parser.add_argument("--out", default="effl-distill-bench", help="output folder (default ./effl-distill-bench)")
    parser.add_argument("--aug", default=None, help="every run's batch augmentation: 'weak' or a SPEC (default none)")
    parser.add_argument(
        "--loss-arg", nargs="+", default=[], metavar="KEY=VALUE", help="arguments of every distilled loss"
    )
    parser.add_argument(
        "--live-teacher",
        action="store_true",
        help="run the teacher's forward in every distilled student (default: each seed's teacher is recorded "
        "once and every loss that can read its stored outputs does)",
    )
    args = parser.parse_args(argv)
    from ..kv import parse_kv

    try:
        loss_args = parse_kv(args.loss_arg, option="--loss-arg")
    except ValueError as exc:
        parser.error(str(exc))
    aug = WEAK_AUG if args.aug == "weak" else args.aug
    losses = args.losses or [name for name in ep.list_losses() if name not in SKIPPED]
    unknown = [name for name in losses if name not in ep.list_losses()]
    if unknown:
        parser.error(f"--losses: unknown loss(es) {', '.join(unknown)}; registered: {', '.join(ep.list_losses())}")
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    rows = [
        row for seed in args.seeds for row in run_seed(seed, losses, out, log, aug, loss_args, not args.live_teacher)
    ]
    result = {
        "student": STUDENT,
        "teacher": TEACHER,
        "labels": {"student": STUDENT_LABELS, "teacher": TEACHER_LABELS},
        "epochs": {"teacher": TEACHER_EPOCHS, "distill": DISTILL_EPOCHS},
        "augmentation": aug,
        "loss_args": loss_args,
        "teacher_cache": not args.live_teacher,
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    write_json_report(out / "distill.json", result)
    (out / "distill.md").write_text(table(rows))
    print(table(rows))
    print(f"total {result['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

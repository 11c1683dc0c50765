"""Does distillation help with few labels, and which loss helps most? On the embedded digits
(100 labels, 1,337 unlabeled, 360 test, 32 px): the student trained alone on the labeled images,
against the same student distilled from a teacher trained on those same labels with every
registered loss (the student also sees the unlabeled images, labeled softly by the teacher), over
several seeds. The teacher and the alone run are trained once per seed and shared by every loss.

    python -m effl_plugins.bench.distill --seeds 0 1 2 [--losses kd dkd ...] [--out DIR]

Writes ``DIR/distill.json`` (every run) and ``DIR/distill.md`` (mean and spread per loss).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Losses the table leaves out: the tutorial's example loss is no distillation method.
SKIPPED = ("example_cosine",)
#: Student, teacher and the schedule of the comparison.
STUDENT, TEACHER = "test_resnet", "resnet10t"
ALONE_EPOCHS, TEACHER_EPOCHS, DISTILL_EPOCHS, LR = 40, 80, 8, 3e-3


def _common(seed: int) -> dict[str, Any]:
    return {"batch_size": 32, "seed": seed, "lr": LR, "weight_decay": 1e-4, "progress": False, "device": "cpu"}


def run_seed(seed: int, losses: Sequence[str], out: Path, log=print) -> list[dict[str, Any]]:
    """One seed: the alone run, the teacher, then one distilled student per loss."""
    from .._api import create_strategy
    from ..demo.run import demo_data

    data = demo_data(STUDENT, seed, None)
    rows = []
    start = time.perf_counter()
    alone = create_strategy("finetune", model=STUDENT, epochs=ALONE_EPOCHS, backbone_lr=LR, **_common(seed)).run(data)
    rows.append(
        {
            "seed": seed,
            "method": "alone",
            "accuracy": alone["final_accuracy"],
            "seconds": round(time.perf_counter() - start, 1),
        }
    )
    teacher_dir = out / f"teacher-{seed}"
    start = time.perf_counter()
    teacher = create_strategy("finetune", model=TEACHER, epochs=TEACHER_EPOCHS, backbone_lr=LR, **_common(seed))
    taught = teacher.run(data, out_dir=teacher_dir, resume=(teacher_dir / "checkpoint.pt").is_file())
    rows.append(
        {
            "seed": seed,
            "method": "teacher",
            "accuracy": taught["final_accuracy"],
            "seconds": round(time.perf_counter() - start, 1),
        }
    )
    log(f"seed {seed}: alone {rows[0]['accuracy']:.4f}, teacher {rows[1]['accuracy']:.4f}")
    for loss in losses:
        start = time.perf_counter()
        strategy = create_strategy(
            "distill",
            model=STUDENT,
            teacher=f"{TEACHER}:{teacher_dir / 'checkpoint.pt'}",
            teacher_epochs=0,
            loss=loss,
            epochs=DISTILL_EPOCHS,
            **_common(seed),
        )
        summary = strategy.run(data)
        rows.append(
            {
                "seed": seed,
                "method": loss,
                "accuracy": summary["final_accuracy"],
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        log(f"seed {seed}: {loss:<20} {summary['final_accuracy']:.4f} ({rows[-1]['seconds']} s)")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per method, mean ± standard deviation over seeds, and the gain over alone."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {m: [r["accuracy"] for r in rows if r["method"] == m] for m in methods}
    alone = statistics.mean(by["alone"])
    lines = ["| method | mean accuracy | spread (sd) | vs alone | seeds |", "|---|---:|---:|---:|---:|"]
    for method in methods:
        values = by[method]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        gain = "" if method in ("alone", "teacher") else f"{100 * (statistics.mean(values) - alone):+.1f} pts"
        lines.append(f"| {method} | {statistics.mean(values):.4f} | {sd:.4f} | {gain} | {len(values)} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    import torch

    import effl_plugins as ep

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--losses", nargs="+", default=None, help="default: every registered loss")
    parser.add_argument("--out", default="effl-distill-bench", help="output folder (default ./effl-distill-bench)")
    args = parser.parse_args(argv)
    losses = args.losses or [name for name in ep.list_losses() if name not in SKIPPED]
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = [row for seed in args.seeds for row in run_seed(seed, losses, out, log=lambda m: print(m, file=sys.stderr))]
    result = {
        "student": STUDENT,
        "teacher": TEACHER,
        "epochs": {"alone": ALONE_EPOCHS, "teacher": TEACHER_EPOCHS, "distill": DISTILL_EPOCHS},
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    (out / "distill.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "distill.md").write_text(table(rows))
    print(table(rows))
    print(f"total {result['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""Semi-supervised benchmark on the embedded digits: the supervised baseline and every self-training
strategy at a few labels per class, over seeds; mean and spread, written as JSON, a markdown table and
a PNG plot.

    python -m effl_plugins.bench.ssl --labels 20 40 --seeds 0 1 2 [--strategies ...] [--epochs E] [--out DIR]
    python -m effl_plugins.bench.ssl --data PATH --labels 40 [--img-size 64] ...   # any ImageFolder

On a dataset root (``PATH/train/<class>/...`` and ``PATH/val/...``), ``labels`` class-stratified images
of the train split, drawn by the run's seed, are the labeled ones and the rest of the split is the
unlabeled set; the val split is the test set.

The setting (USB's "classic CV" protocol scaled to a 2-core CPU): ``test_resnet`` at 32 px on the whole
image (no crop, no flip: the digits demo's transforms), ``labels`` labeled images (class-stratified,
drawn by the run's seed as USB draws its labeled set: the seed changes which images carry labels), the
rest of the 1,437 training digits unlabeled, the 360 test digits (the same for every seed). The online
methods (FixMatch, FlexMatch, FreeMatch, SoftMatch, UDA, Mean Teacher) train from scratch for ``epochs`` passes over the
unlabeled set at ``batch_size`` labeled and ``mu * batch_size`` unlabeled images a step; the supervised
baseline (``finetune`` with ``backbone_lr = lr``) takes as many steps on the labeled images alone, under
the same weak augmentation as the online methods' labeled branch (a per-sample translation by up to
12.5 % of the side, ``SUPERVISED_AUG``); the
offline methods (pseudo-labelling, Noisy Student with one round) start from that baseline as their
teacher and train a student for ``student_epochs`` passes over labeled + pseudo-labeled images. The
reported accuracy is the final epoch's on the test digits (no selection on the test set). Every method
keeps its paper's defaults, Mean Teacher USB's classic-CV settings (``MEAN_TEACHER``: one unlabeled image
per labeled image, the consistency weight (the task's default 10) ramped up over 40 % of the run; EMA
decay 0.99, as 0.999 averages over more steps than the run has), for as many passes as make the others'
step count (rounded up to a whole pass).

Every run is seeded and single-threaded; ``jobs`` runs go in parallel processes (one per core). Each run
keeps its records under ``DIR/runs/`` (its checkpoints are deleted, the baselines' excepted); a run
finished under the same plan is reused when the command is repeated, e.g. with more seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .._validate import integer, is_number
from .results import write_json_report

__all__ = [
    "METHODS",
    "SSLPlan",
    "method_kwargs",
    "run_ssl_bench",
    "summarise",
    "markdown_table",
    "plot_results",
    "main",
]

#: The methods, in the order of the table: the baseline, the offline and the online self-training methods.
METHODS = (
    "supervised",
    "pseudo_label",
    "noisy_student",
    "mean_teacher",
    "uda",
    "fixmatch",
    "flexmatch",
    "freematch",
    "softmatch",
)
ONLINE = ("mean_teacher", "uda", "fixmatch", "flexmatch", "freematch", "softmatch")
OFFLINE = ("pseudo_label", "noisy_student")
#: The supervised baseline's batch augmentation: the online methods' weak view on the labeled images (a
#: translation by up to 12.5 % of the side; zero fill where the weak view reflects, the digits' border
#: being background either way).
SUPERVISED_AUG = "translate(max_fraction=0.125, axis='both', whole_pixels=True, interpolation='nearest')"
#: Mean Teacher as USB runs it in its classic-CV benchmark (``uratio`` 1, ``unsup_warm_up`` 0.4), with the
#: task's default consistency weight (10; USB's ``ulb_loss_ratio`` 50 multiplies a term that passes no
#: gradient there, and here costs 3-5 points: README) and the EMA decay its own runs' length allows.
MEAN_TEACHER = {"mu": 1, "consistency": 10.0, "rampup_share": 0.4, "ema_decay": 0.99}
NUM_CLASSES = 10
IMAGE_SIZE = 32
DIGITS_TRAIN = 1437  # 1,797 digits less the 360 test digits


@dataclass(frozen=True)
class SSLPlan:
    """Sizes and shared settings of one benchmark (the defaults fit ~25 minutes on an idle 2-core CPU)."""

    epochs: int = 20  # passes of the online methods over the unlabeled set
    batch_size: int = 8  # labeled images a step
    mu: int = 7  # unlabeled images per labeled image a step (the papers' 7)
    student_epochs: int = 6  # passes of the offline students over labeled + pseudo-labeled images
    pseudo_threshold: float = 0.7  # confidence of a kept pseudo-label (pseudo_label, noisy_student)
    lr: float = 3e-3
    weight_decay: float = 5e-4
    model: str = "test_resnet"
    data: str = "digits"  # or a dataset root with train/ and val/
    image_size: int = IMAGE_SIZE
    train_images: int = DIGITS_TRAIN  # labeled + unlabeled images (the train split of ``data``)

    def online_steps(self, labels: int) -> int:
        return self.epochs * ((self.train_images - labels) // (self.batch_size * self.mu))

    def supervised_epochs(self, labels: int) -> int:
        """Epochs of the baseline on the labeled images that make the online methods' step count."""
        return max(1, self.online_steps(labels) // math.ceil(labels / self.batch_size))


def _data(labels: int, seed: int, plan: SSLPlan):
    import timm

    from ..data import build_data, resolve_data_config
    from ..demo.run import whole_image_digits

    config = resolve_data_config(
        model=timm.create_model(plan.model, num_classes=NUM_CLASSES), img_size=plan.image_size, crop_pct=1.0
    )
    if plan.data == "digits":
        return whole_image_digits(config, labels, seed, labeled_seed=seed)
    return split_labeled(build_data(plan.data, config, seed=seed), labels, seed=seed)


def split_labeled(bundle, labels: int, seed: int | None = None):
    """``labels`` class-stratified images of ``bundle.labeled`` stay labeled (as evenly as the classes
    allow: the first of each class in listing order, or with ``seed`` a draw of that seed); the rest of
    the split becomes the unlabeled set."""
    import torch

    from ..data import UNLABELED, eval_transform

    targets = torch.as_tensor(bundle.labeled.targets)
    classes = bundle.num_classes
    if labels > len(targets) - classes:
        raise ValueError(f"--labels {labels} leaves no unlabeled images in a train split of {len(targets)}")
    chosen = []
    for c in range(classes):
        members = torch.nonzero(targets == c).flatten()
        if seed is not None:
            members = members[torch.randperm(len(members), generator=torch.Generator().manual_seed(seed + 7919 * c))]
        share = labels // classes + (1 if c < labels % classes else 0)
        if len(members) < share:
            raise ValueError(f"--labels {labels}: class {c} has {len(members)} images, fewer than its share {share}")
        chosen += members[:share].tolist()
    keep = sorted(chosen)
    rest = sorted(set(range(len(targets))) - set(keep))
    full = bundle.labeled
    bundle.labeled = full.subset(keep)
    unlabeled = full.subset(rest)
    unlabeled.targets = torch.full((len(rest),), UNLABELED, dtype=torch.long)
    bundle.unlabeled = unlabeled
    bundle.unlabeled_eval = unlabeled.with_transform(eval_transform(bundle.data_config))
    bundle.hidden_targets = targets[rest]
    return bundle


def method_kwargs(method: str, plan: SSLPlan, labels: int, seed: int, baseline: Path | None) -> tuple[str, dict]:
    """``(strategy name, its arguments)`` of one method in this benchmark."""
    shared: dict[str, Any] = {
        "model": plan.model,
        "seed": seed,
        "lr": plan.lr,
        "weight_decay": plan.weight_decay,
        "device": "cpu",
        "progress": False,
        "amp": "off",
    }
    if method == "supervised":
        return "finetune", {
            **shared,
            "epochs": plan.supervised_epochs(labels),
            "batch_size": plan.batch_size,
            "backbone_lr": plan.lr,
            "aug": SUPERVISED_AUG,
        }
    if method in OFFLINE:
        if baseline is None:
            raise ValueError(f"{method} needs the supervised baseline's checkpoint as its teacher")
        kwargs = {
            **shared,
            "teacher": f"{plan.model}:{baseline}",
            "epochs": plan.student_epochs,
            "batch_size": 32,
            "threshold": plan.pseudo_threshold,
        }
        return method, {**kwargs, "rounds": 1} if method == "noisy_student" else kwargs
    if method in ONLINE:
        online = {**shared, "epochs": plan.epochs, "batch_size": plan.batch_size, "mu": plan.mu, "flip": False}
        if method == "mean_teacher":
            mu, decay = MEAN_TEACHER["mu"], MEAN_TEACHER["ema_decay"]
            epochs = math.ceil(plan.online_steps(labels) / ((plan.train_images - labels) // (plan.batch_size * mu)))
            online.update(
                mu=mu,
                epochs=epochs,
                consistency=MEAN_TEACHER["consistency"],
                rampup_epochs=MEAN_TEACHER["rampup_share"] * epochs,
                ema_decay=decay,
                ema_decay_after=decay,
            )
        return method, online
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


RECORD_NAME = "bench-record.json"


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One ``(labels, seed, method)`` run in this process on one thread; its record (also written to
    ``out_dir/bench-record.json``; a finished run of the same plan found there is reused, not repeated).
    The run's checkpoints are deleted afterwards (``job["keep_checkpoints"]`` keeps them), the supervised
    baseline's excepted."""
    import torch

    from .._api import create_strategy

    record_path = Path(job["out_dir"]) / RECORD_NAME
    if record_path.is_file():
        saved = json.loads(record_path.read_text())
        if saved.get("plan") == job["plan"] and saved.get("settings") == job.get("settings"):
            return {**saved["record"], "reused": True}
    torch.set_num_threads(1)
    plan = SSLPlan(**job["plan"])
    labels, seed, method = job["labels"], job["seed"], job["method"]
    baseline = Path(job["baseline"]) if job.get("baseline") else None
    name, kwargs = method_kwargs(method, plan, labels, seed, baseline)
    data = _data(labels, seed, plan)
    start = time.perf_counter()
    summary = create_strategy(name, **kwargs).run(data, out_dir=job["out_dir"])
    record = {
        "labels": labels,
        "seed": seed,
        "method": method,
        "accuracy": summary["final_accuracy"],
        "best_accuracy": summary["best_accuracy"],
        "seconds": round(time.perf_counter() - start, 2),
    }
    saved = {"plan": job["plan"], "record": record}
    if job.get("settings") is not None:
        saved["settings"] = job["settings"]
    write_json_report(record_path, saved)  # a record is whole or absent: a rerun reuses only whole ones
    if method != "supervised" and not job.get("keep_checkpoints"):  # the baseline's is the offline methods' teacher
        for checkpoint in Path(job["out_dir"]).rglob("*.pt"):
            checkpoint.unlink()
    return record


def _jobs(methods, labels, seeds, plan: SSLPlan, runs: Path) -> tuple[list[dict], list[dict]]:
    first, then = [], []
    for n in labels:
        for seed in seeds:
            base_dir = runs / f"labels{n}-seed{seed}"
            baseline = base_dir / "supervised" / "checkpoint.pt"
            for method in methods:
                job = {
                    "labels": n,
                    "seed": seed,
                    "method": method,
                    "plan": asdict(plan),
                    "settings": MEAN_TEACHER if method == "mean_teacher" else None,
                    "out_dir": str(base_dir / method),
                    "baseline": str(baseline),
                }
                (first if method == "supervised" else then).append(job)
    return first, then


def _run_all(jobs: list[dict], workers: int, log) -> list[dict]:
    if not jobs:
        return []
    if workers <= 1:
        records = []
        for job in jobs:
            records.append(run_one(job))
            log(_line(records[-1]))
        return records
    import multiprocessing

    records = []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for record in pool.map(run_one, jobs):
            records.append(record)
            log(_line(record))
    return records


def _line(record: dict) -> str:
    reused = " (reused)" if record.get("reused") else ""
    return (
        f"labels {record['labels']:>3} seed {record['seed']} {record['method']:<14} "
        f"{100 * record['accuracy']:6.2f}%  {record['seconds']:6.1f}s{reused}"
    )


def summarise(records: list[dict]) -> list[dict]:
    """Mean and sample standard deviation of the final accuracy per ``(labels, method)``."""
    groups: dict[tuple[int, str], list[float]] = {}
    for record in records:
        groups.setdefault((record["labels"], record["method"]), []).append(record["accuracy"])
    rows = []
    for (labels, method), values in groups.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(
            {"labels": labels, "method": method, "mean": statistics.fmean(values), "std": spread, "runs": len(values)}
        )
    order = {m: i for i, m in enumerate(METHODS)}
    return sorted(rows, key=lambda r: (r["labels"], order.get(r["method"], len(order))))


def markdown_table(rows: list[dict]) -> str:
    """Methods as rows, label counts as columns: ``mean ± std`` test accuracy (%), the best of each column bold."""
    labels = sorted({r["labels"] for r in rows})
    cell = {(r["labels"], r["method"]): r for r in rows}
    best = {n: max(r["mean"] for r in rows if r["labels"] == n) for n in labels}
    methods = [m for m in METHODS if any((n, m) in cell for n in labels)]
    head = "| method | " + " | ".join(f"{n} labels" for n in labels) + " |"
    lines = [head, "|---|" + "---:|" * len(labels)]
    for method in methods:
        values = []
        for n in labels:
            r = cell.get((n, method))
            text = "" if r is None else f"{100 * r['mean']:.1f} ± {100 * r['std']:.1f}"
            values.append(f"**{text}**" if r is not None and r["mean"] == best[n] else text)
        lines.append(f"| {method} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def plot_results(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Grouped bars (one group per method, one bar per label count) with the standard deviation over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted({r["labels"] for r in rows})
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    cell = {(r["labels"], r["method"]): r for r in rows}
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(methods) + 1.5), 3.8), dpi=100)
    for i, n in enumerate(labels):
        xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(methods))]
        means = [100 * cell[(n, m)]["mean"] if (n, m) in cell else 0.0 for m in methods]
        stds = [100 * cell[(n, m)]["std"] if (n, m) in cell else 0.0 for m in methods]
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=f"{n} labels")
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels(methods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def run_ssl_bench(
    labels=(20, 40),
    seeds=(0, 1, 2),
    methods=METHODS,
    plan: SSLPlan | None = None,
    out_dir: str | Path | None = None,
    jobs: int = 2,
    log=print,
) -> dict[str, Any]:
    """Run the grid; write ``ssl.json``, ``ssl.md`` and ``ssl.png`` into ``out_dir``; the report."""
    plan = plan or SSLPlan()
    _check(labels, seeds, methods, jobs)
    out = Path(out_dir) if out_dir is not None else Path.cwd() / "effl-ssl-bench"
    out.mkdir(parents=True, exist_ok=True)
    wanted = list(methods)
    if any(m in OFFLINE for m in wanted) and "supervised" not in wanted:
        wanted.insert(0, "supervised")  # the offline methods' teacher
    start = time.perf_counter()
    first, then = _jobs(wanted, labels, seeds, plan, out / "runs")
    records = _run_all(first, jobs, log) + _run_all(then, jobs, log)
    records = [r for r in records if r["method"] in methods]
    wall = round(time.perf_counter() - start, 1)
    rows = summarise(records)
    report = {
        "dataset": plan.data,
        "model": plan.model,
        "image_size": plan.image_size,
        "plan": asdict(plan),
        "supervised_epochs": {str(n): plan.supervised_epochs(n) for n in labels},
        "online_steps": {str(n): plan.online_steps(n) for n in labels},
        "labels": list(labels),
        "seeds": list(seeds),
        "jobs": jobs,
        "cpu_count": os.cpu_count(),
        "wall_seconds": wall,
        "run_seconds": round(sum(r["seconds"] for r in records), 1),
        "reused_runs": sum(1 for r in records if r.get("reused")),
        "summary": rows,
        "runs": records,
    }
    from ..train.checkpoints import atomic_write_text

    write_json_report(out / "ssl.json", report)
    atomic_write_text(out / "ssl.md", markdown_table(rows))
    title = (
        f"{Path(plan.data).name}, {plan.model} {plan.image_size} px, {len(seeds)} seeds, online {plan.epochs} epochs"
    )
    plot_results(rows, out / "ssl.png", title)
    log(markdown_table(rows))
    log(f"wall time {wall:.0f}s ({wall / 60:.1f} min), {jobs} parallel jobs; written to {out}")
    return report


def _check(labels, seeds, methods, jobs) -> None:
    for n in labels:
        if not (is_number(n) and isinstance(n, int) and n >= 1):
            raise ValueError(
                f"--labels must be positive integers (labeled images, split evenly over the classes), got {n!r}"
            )
    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"--strategies must be among {', '.join(METHODS)}, got {list(methods)!r}")
    integer(jobs, "--jobs", low=1)


def _train_images(root: str, image_size: int) -> int:
    from ..data import DataConfig, build_data

    config = DataConfig((3, image_size, image_size), "bilinear", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1.0)
    return len(build_data(root, config).labeled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m effl_plugins.bench.ssl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--labels", type=int, nargs="+", default=[20, 40], help="labeled images (10 classes)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=list(METHODS),
        metavar="METHOD",
        help=f"among {', '.join(METHODS)} (default: all)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"passes of the online methods over the unlabeled set (default {SSLPlan.epochs})",
    )
    parser.add_argument(
        "--student-epochs",
        type=int,
        default=None,
        help=f"passes of the offline students (default {SSLPlan.student_epochs})",
    )
    parser.add_argument("--data", default="digits", help="'digits' (default) or a dataset root with train/ and val/")
    parser.add_argument("--img-size", type=int, default=IMAGE_SIZE, help=f"input size (default {IMAGE_SIZE})")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="parallel runs (one thread each)")
    parser.add_argument("--out", default=None, help="output folder (default ./effl-ssl-bench)")
    args = parser.parse_args(argv)
    plan = SSLPlan(data=args.data, image_size=args.img_size)
    if args.data != "digits":
        plan = replace(plan, train_images=_train_images(args.data, args.img_size))
    for key in ("epochs", "student_epochs"):
        value = getattr(args, key)
        if value is not None:
            if value < 1:
                parser.error(f"--{key.replace('_', '-')} must be >= 1, got {value}")
            plan = replace(plan, **{key: value})
    try:
        run_ssl_bench(args.labels, args.seeds, args.strategies, plan, args.out, args.jobs)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

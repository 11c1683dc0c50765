"""Is a student distilled from a teacher cache as good as one distilled from the live teacher, or do the two
differ only as runs that differ in rounding do?

With every class kept, the cache hands the loss ``log softmax(logits)``: the teacher's distribution, its
logits shifted by a constant a row, so the two students' losses agree to float rounding and then part as
any two runs whose arithmetic rounds differently. This measures how far such runs part: per seed of the
distillation benchmark (``bench.distill``: its split, teacher and ``kd`` schedule), ``--rounds`` students
from each source whose initial weights are scaled by ``1 + 1e-6 r`` (r = 0, 1, ...: a rounding-size
change), and compares the two sources' accuracies over all of them (Welch's t-test).

    python -m effl_plugins.bench.cache_rounding --bench-dir DIR [--seeds 0 1 2] [--rounds 5] [--loss kd]
        [--out DIR]

``--bench-dir`` is a ``bench.distill`` output folder: its ``teacher-SEED`` checkpoints and ``teacher-cache-SEED``
caches are used (a missing one is trained or recorded there first). Writes ``DIR/cache-rounding.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from .results import write_json_report

#: The relative size of the change to the student's initial weights a round makes.
ROUND_SCALE = 1e-6


def perturbed_distill(round_: int):
    """A ``distill`` strategy class whose student starts at its usual weights times ``1 + ROUND_SCALE * round_``."""
    import torch

    from ..strategies.distill import Distill

    class PerturbedDistill(Distill):
        def build_model(self, spec, num_classes, *args, **kwargs):
            model = super().build_model(spec, num_classes, *args, **kwargs)
            if kwargs.get("seed_offset") == 1 and round_:
                with torch.no_grad():
                    for parameter in model.parameters():
                        if parameter.is_floating_point():
                            parameter.mul_(1 + ROUND_SCALE * round_)
            return model

    return PerturbedDistill


def ensure_sources(seed: int, bench_dir: Path, log) -> tuple[str, Path]:
    """The seed's teacher ``NAME:CKPT`` and teacher cache, trained and recorded in ``bench_dir`` if missing."""
    from . import distill as bench

    teacher_dir, cache = bench_dir / f"teacher-{seed}", bench_dir / f"teacher-cache-{seed}"
    if not (teacher_dir / "checkpoint.pt").is_file() or not (cache / "teacher-cache.json").is_file():
        bench.run_seed(seed, [], bench_dir, log=log)
    return f"{bench.TEACHER}:{teacher_dir / 'checkpoint.pt'}", cache


def run(seeds: list[int], rounds: int, loss: str, bench_dir: Path, log=print) -> list[dict[str, Any]]:
    """Every (seed, round, source) student's final accuracy."""
    from . import distill as bench

    rows = []
    for seed in seeds:
        student_data, _ = bench.split_data(seed)
        teacher, cache = ensure_sources(seed, bench_dir, log)
        sources = {"live": {"teacher": teacher, "teacher_epochs": 0}, "cache": {"teacher_cache": str(cache)}}
        for round_ in range(rounds):
            for source, kwargs in sources.items():
                start = time.perf_counter()
                strategy = perturbed_distill(round_)(
                    model=bench.STUDENT, loss=loss, epochs=bench.DISTILL_EPOCHS, **kwargs, **bench._common(seed)
                )
                accuracy = strategy.run(student_data)["final_accuracy"]
                rows.append({"seed": seed, "round": round_, "source": source, "accuracy": accuracy})
                log(f"seed {seed} round {round_} {source:<5} {accuracy:.4f} ({time.perf_counter() - start:.1f} s)")
    return rows


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per source: mean and standard deviation over all runs and the seeds' means; Welch's t between them."""
    from scipy import stats

    summary: dict[str, Any] = {}
    values = {}
    for source in ("live", "cache"):
        runs = [100 * r["accuracy"] for r in rows if r["source"] == source]
        seeds = sorted({r["seed"] for r in rows})
        seed_means = [
            statistics.mean(100 * r["accuracy"] for r in rows if (r["source"], r["seed"]) == (source, s)) for s in seeds
        ]
        values[source] = runs
        summary[source] = {
            "mean": round(statistics.mean(runs), 2),
            "sd": round(statistics.stdev(runs), 2) if len(runs) > 1 else 0.0,
            "seed_means": [round(m, 2) for m in seed_means],
            "runs": len(runs),
        }
    test = stats.ttest_ind(values["live"], values["cache"], equal_var=False)
    summary["welch_t"], summary["p_value"] = round(float(test.statistic), 3), round(float(test.pvalue), 3)
    return summary


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench-dir", required=True, help="a bench.distill output folder (teachers and caches)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loss", default="kd")
    parser.add_argument("--out", default="effl-cache-rounding-bench")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    rows = run(args.seeds, args.rounds, args.loss, Path(args.bench_dir), log)
    result = {"loss": args.loss, "round_scale": ROUND_SCALE, "summary": compare(rows), "rows": rows}
    write_json_report(out / "cache-rounding.json", result)
    print(json.dumps(result["summary"], indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

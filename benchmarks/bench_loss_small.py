"""KD at small sizes: batches of 64 and 256 at 10, 100, 1000 and 21843 classes (float32), the loss as dispatched
against its eager reference, forward and forward+backward; and the measurements behind the CPU function's choices
(``fused_kd._kd_cpu``).

    python benchmarks/bench_loss_small.py --small [--out DIR] [--row-seconds S] [--threads T]
    python benchmarks/bench_loss_small.py --forms [--calls N] [--sizes BxK ...]
    python benchmarks/bench_loss_small.py --chunks [--calls N] [--sizes BxK ...] [--threads T]

The code of ``--small`` lives in ``effl_plugins.bench.loss`` (``SMALL_CASES``, bench name ``loss-small``).
``--forms`` times KD forward+backward (float32, T=4) on one thread, CPU time of the calling thread, calls
interleaved in rounds of one call each, in a random order per round (median of ``N`` calls each): the eager
reference, the CPU function's chunks with every row shifted by its maximum (what they fall back to), and the
call as dispatched (``fused_kd._cpu_form``: whole rows or chunks shifted by the rows' first logits); it prints
the times and the ratios. ``--chunks`` times the CPU function's
forward at chunk sizes of 2^16 to 2^20 logits per thread, wall time, the same interleaving.
"""

import sys

#: ``--forms``: (batch, classes), from 640 to 5.6 million logits
FORM_SIZES = (
    (64, 10),
    (256, 10),
    (64, 32),
    (1024, 32),
    (64, 100),
    (256, 100),
    (64, 1000),
    (256, 1000),
    (64, 21843),
    (256, 21843),
)
#: ``--chunks``: where a batch spans several chunks
CHUNK_SIZES = ((256, 1000), (64, 21843), (256, 21843))


def _interleaved(impls: dict, calls: int, clock, seed: int) -> dict[str, float]:
    """Median seconds per implementation (each a callable of no arguments), calls in rounds of one each, the
    order shuffled per round."""
    import random
    import statistics

    times: dict[str, list[int]] = {name: [] for name in impls}
    names, order = list(impls), random.Random(seed)
    warmup = max(5, calls // 10)
    for run in range(calls + warmup):
        order.shuffle(names)  # no impl always follows the same one
        for name in names:
            start = clock()
            impls[name]()
            if run >= warmup:
                times[name].append(clock() - start)
    return {name: statistics.median(values) / 1e9 for name, values in times.items()}


def _inputs(batch: int, classes: int):
    import torch

    generator = torch.Generator().manual_seed(0)
    student = (torch.randn(batch, classes, generator=generator) * 3).requires_grad_(True)
    return student, torch.randn(batch, classes, generator=generator) * 3


def _row_max_shifted():
    """The CPU function with every chunk shifted by its rows' maxima (its fallback), as an autograd function
    like the dispatched one."""
    import torch

    from effl_plugins.losses import fused_kd

    class MaxShifted(torch.autograd.Function):
        @staticmethod
        def forward(ctx, student, teacher, temperature):
            loss, grad = fused_kd._kd_cpu(student, teacher, temperature, ctx.needs_input_grad[0], anchored=False)
            ctx.student_dtype, ctx.grad = student.dtype, grad
            return loss

        backward = staticmethod(fused_kd._backward)

    return lambda student, teacher, temperature: MaxShifted.apply(student, teacher.detach(), float(temperature))


def time_forms(calls: int = 301, sizes=FORM_SIZES) -> list[dict]:
    """Medians (seconds) of KD forward+backward per size and implementation; see the module."""
    import time

    import torch

    from effl_plugins.losses.functional import kd_divergence, kd_divergence_reference

    torch.set_num_threads(1)
    rows = []
    for batch, classes in sizes:
        student, teacher = _inputs(batch, classes)

        def step(fn, student=student, teacher=teacher):
            def call():
                fn(student, teacher, 4.0).backward()
                student.grad = None

            return call

        impls = {
            "eager": step(kd_divergence_reference),
            "max-shifted": step(_row_max_shifted()),
            "dispatched": step(kd_divergence),
        }
        medians = _interleaved(impls, calls, time.thread_time_ns, batch * classes)
        rows += [{"batch": batch, "classes": classes, "impl": k, "median_s": v} for k, v in medians.items()]
    return rows


def time_chunks(calls: int = 31, sizes=CHUNK_SIZES) -> list[dict]:
    """Medians (seconds, wall) of the CPU function's forward with a gradient per size and chunk size."""
    import time

    from effl_plugins.losses import fused_kd

    rows = []
    for batch, classes in sizes:
        student, teacher = _inputs(batch, classes)
        student = student.detach()

        def forward(per_thread, student=student, teacher=teacher):
            def call():
                fused_kd.CHUNK_ELEMENTS_PER_THREAD = per_thread
                fused_kd._kd_cpu(student, teacher, 4.0, True)

            return call

        kept = fused_kd.CHUNK_ELEMENTS_PER_THREAD
        try:
            impls = {f"2^{power}": forward(1 << power) for power in range(16, 21)}
            medians = _interleaved(impls, calls, time.perf_counter_ns, batch * classes)
        finally:
            fused_kd.CHUNK_ELEMENTS_PER_THREAD = kept
        rows += [{"batch": batch, "classes": classes, "impl": k, "median_s": v} for k, v in medians.items()]
    return rows


def markdown(rows: list[dict], baseline: str) -> list[str]:
    """A table of times per size and implementation, and each one's ratio ``baseline / it``."""
    by_size: dict[tuple, dict[str, float]] = {}
    for row in rows:
        by_size.setdefault((row["batch"], row["classes"]), {})[row["impl"]] = row["median_s"]
    names = list(dict.fromkeys(row["impl"] for row in rows))
    others = [name for name in names if name != baseline]
    lines = [
        "| B x K (logits) | " + " | ".join(names) + " | " + " | ".join(f"{baseline} / {n}" for n in others) + " |",
        "|---|" + "---:|" * (len(names) + len(others)),
    ]
    for (batch, classes), t in by_size.items():
        cells = [f"{1e6 * t[n]:.0f} us" if n in t else "-" for n in names]
        ratios = [f"{t[baseline] / t[n]:.2f}" if n in t else "-" for n in others]
        lines.append(f"| {batch} x {classes} ({batch * classes:,}) | " + " | ".join(cells + ratios) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """KD on the small cases; writes ``DIR/loss-small-<device>-torch<version>.json`` and ``DIR/RESULTS.md``
    (``--forms``, ``--chunks``: prints their table instead)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python benchmarks/bench_loss_small.py", description=main.__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--small", action="store_true", help="the small cases (SMALL_CASES)")
    mode.add_argument("--forms", action="store_true", help="eager against the CPU function, interleaved (FORM_SIZES)")
    mode.add_argument("--chunks", action="store_true", help="the CPU function's chunk sizes (CHUNK_SIZES)")
    parser.add_argument("--calls", type=int, metavar="N", help="calls per median (301 --forms, 31 --chunks)")
    parser.add_argument("--sizes", nargs="+", metavar="BxK", help="--forms: these sizes instead of FORM_SIZES")
    parser.add_argument("--out", default="effl-bench", metavar="DIR")
    parser.add_argument("--row-seconds", type=float, metavar="S")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    sizes = [tuple(int(n) for n in size.lower().split("x")) for size in args.sizes or ()]
    if args.forms:
        print("\n".join(markdown(time_forms(args.calls or 301, sizes or FORM_SIZES), "eager")))
        return 0
    if args.chunks:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        print("\n".join(markdown(time_chunks(args.calls or 31, sizes or CHUNK_SIZES), "2^20")))
        return 0
    from effl_plugins.bench.run import run_and_report

    run_and_report("loss-small", args.out, device=args.device, threads=args.threads, row_seconds=args.row_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

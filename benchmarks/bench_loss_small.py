"""KD at small sizes: batches of 64 and 256 at 10, 100, 1000 and 21843 classes (float32), the loss as dispatched
against its eager reference, forward and forward+backward; and the measurement that places the CPU function's
two forms (``fused_kd._cpu_form``).

    python benchmarks/bench_loss_small.py --small [--out DIR] [--row-seconds S] [--threads T]
    python benchmarks/bench_loss_small.py --forms [--calls N] [--sizes BxK ...]

The code of ``--small`` lives in ``effl_plugins.bench.loss`` (``SMALL_CASES``, bench name ``loss-small``).
``--forms`` times KD forward+backward (float32, T=4) on one thread, CPU time of the calling thread, calls
interleaved in rounds of one call each, in a random order per round (median of ``N`` calls each): the eager
reference, the CPU function forced into its whole-rows form and into its chunked form, and as dispatched; it
prints the times and the ratios.
"""

import sys

#: ``--forms``: (batch, classes), from 640 to 5.6 million logits around the crossover
FORM_SIZES = (
    (64, 10),
    (256, 10),
    (64, 100),
    (256, 100),
    (64, 400),
    (1024, 64),
    (64, 1000),
    (128, 1000),
    (64, 1600),
    (256, 1000),
    (64, 21843),
    (256, 21843),
)


def _forced(form: str):
    """The CPU function in one form (``"_kd_whole_rows"`` or ``"_kd_chunked"``) whatever the size: its autograd
    function with the form passed in (setting ``CPU_CHUNKED_MIN_ELEMENTS`` around each call would rewrite the
    module's globals, which costs every later global lookup in it a cache miss)."""
    import torch

    from effl_plugins.losses import fused_kd

    chosen = getattr(fused_kd, form)

    class Forced(torch.autograd.Function):
        @staticmethod
        def forward(ctx, student, teacher, temperature):
            loss, grad = chosen(student, teacher, temperature, ctx.needs_input_grad[0])
            ctx.student_dtype, ctx.grad = student.dtype, grad
            return loss

        backward = staticmethod(fused_kd._backward)

    return lambda student, teacher, temperature: Forced.apply(student, teacher.detach(), float(temperature))


def time_forms(calls: int = 301, sizes=FORM_SIZES) -> list[dict]:
    """Medians (seconds) of KD forward+backward per size and implementation, interleaved; see the module."""
    import random
    import statistics
    import time

    import torch

    from effl_plugins.losses.functional import kd_divergence, kd_divergence_reference

    torch.set_num_threads(1)
    impls = {
        "eager": kd_divergence_reference,
        "whole rows": _forced("_kd_whole_rows"),
        "chunked": _forced("_kd_chunked"),
        "dispatched": kd_divergence,
    }
    rows = []
    for batch, classes in sizes:
        generator = torch.Generator().manual_seed(0)
        student = (torch.randn(batch, classes, generator=generator) * 3).requires_grad_(True)
        teacher = torch.randn(batch, classes, generator=generator) * 3
        warmup = max(5, calls // 10)
        times: dict[str, list[int]] = {name: [] for name in impls}
        names, order = list(impls), random.Random(batch * classes)
        for run in range(calls + warmup):
            order.shuffle(names)  # each round in a random order: no impl always follows the same one
            for name in names:
                fn = impls[name]
                start = time.thread_time_ns()
                fn(student, teacher, 4.0).backward()
                student.grad = None
                if run >= warmup:
                    times[name].append(time.thread_time_ns() - start)
        for name, values in times.items():
            rows.append({"batch": batch, "classes": classes, "impl": name, "median_s": statistics.median(values) / 1e9})
    return rows


def forms_markdown(rows: list[dict]) -> list[str]:
    """The ``--forms`` table: times per size and the ratios eager / form and chunked / whole rows."""
    from effl_plugins.losses import fused_kd

    by_size: dict[tuple, dict[str, float]] = {}
    for row in rows:
        by_size.setdefault((row["batch"], row["classes"]), {})[row["impl"]] = row["median_s"]
    lines = [
        "| B x K (logits) | eager | whole rows | chunked | dispatched (form) | eager / whole | eager / chunked "
        "| eager / dispatched | chunked / whole |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (batch, classes), t in by_size.items():
        form = "chunked" if fused_kd._cpu_form(batch, classes) is fused_kd._kd_chunked else "whole"
        lines.append(
            f"| {batch} x {classes} ({batch * classes:,}) | {1e6 * t['eager']:.0f} us | {1e6 * t['whole rows']:.0f} us "
            f"| {1e6 * t['chunked']:.0f} us | {1e6 * t['dispatched']:.0f} us ({form}) "
            f"| {t['eager'] / t['whole rows']:.2f} | {t['eager'] / t['chunked']:.2f} "
            f"| {t['eager'] / t['dispatched']:.2f} | {t['chunked'] / t['whole rows']:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """KD on the small cases; writes ``DIR/loss-small-<device>-torch<version>.json`` and ``DIR/RESULTS.md``
    (``--forms``: prints the CPU form comparison instead)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python benchmarks/bench_loss_small.py", description=main.__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--small", action="store_true", help="the small cases (SMALL_CASES)")
    mode.add_argument("--forms", action="store_true", help="the CPU function's forms, interleaved (FORM_SIZES)")
    parser.add_argument("--calls", type=int, default=301, metavar="N")
    parser.add_argument("--sizes", nargs="+", metavar="BxK", help="--forms: these sizes instead of FORM_SIZES")
    parser.add_argument("--out", default="effl-bench", metavar="DIR")
    parser.add_argument("--row-seconds", type=float, metavar="S")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.forms:
        sizes = [tuple(int(n) for n in size.lower().split("x")) for size in args.sizes] if args.sizes else FORM_SIZES
        print("\n".join(forms_markdown(time_forms(args.calls, sizes))))
        return 0
    from effl_plugins.bench.run import run_and_report

    run_and_report("loss-small", args.out, device=args.device, threads=args.threads, row_seconds=args.row_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

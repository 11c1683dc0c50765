"""Loss throughput (kd, dkd, dist, soft_target_ce; forward and forward+backward) against the eager reference
and torch.compile.

    python benchmarks/bench_loss.py [--quick] [--device cpu|cuda] [--out DIR]

Without ``--out`` it writes the checkout's ``benchmarks/results`` and ``benchmarks/RESULTS.md``.

Same as ``effl bench --only loss``; the code lives in ``effl_plugins.bench.loss``.
"""

import sys
from pathlib import Path


def main(argv=None) -> int:
    from effl_plugins.cli import main as effl

    args = list(sys.argv[1:] if argv is None else argv)
    if "--out" not in args:  # the checkout's committed results: benchmarks/results and benchmarks/RESULTS.md
        here = Path(__file__).resolve().parent
        args += ["--out", str(here / "results"), "--markdown", str(here / "RESULTS.md")]
    return effl(["bench", "--only", "loss", *args])


if __name__ == "__main__":
    sys.exit(main())

"""Loss throughput (kd, dkd, dist, soft_target_ce; forward and forward+backward) against the eager reference and torch.compile.

    python benchmarks/bench_loss.py [--quick] [--device cpu|cuda] [--out DIR]

Same as ``effl bench --only loss``; the code lives in ``effl_plugins.bench.loss``.
"""

import sys


def main(argv=None) -> int:
    from effl_plugins.cli import main as effl

    return effl(["bench", "--only", "loss", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

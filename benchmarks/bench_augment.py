"""Augmentation throughput against torchvision v2, kornia, albumentations and timm.

    python benchmarks/bench_augment.py [--quick] [--device cpu|cuda] [--out DIR]

Without ``--out`` it writes the checkout's ``benchmarks/results`` and ``benchmarks/RESULTS.md``.

Same as ``effl bench --only augment``; the code lives in ``effl_plugins.bench.augment``.
"""

import sys
from pathlib import Path


def main(argv=None) -> int:
    from effl_plugins.cli import main as effl

    args = list(sys.argv[1:] if argv is None else argv)
    if "--out" not in args:  # the checkout's committed results: benchmarks/results and benchmarks/RESULTS.md
        here = Path(__file__).resolve().parent
        args += ["--out", str(here / "results"), "--markdown", str(here / "RESULTS.md")]
    return effl(["bench", "--only", "augment", *args])


if __name__ == "__main__":
    sys.exit(main())

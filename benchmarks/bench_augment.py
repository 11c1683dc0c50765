"""Augmentation throughput against torchvision v2, kornia, albumentations and timm.

    python benchmarks/bench_augment.py [--quick] [--device cpu|cuda] [--out DIR]

Same as ``effl bench --only augment``; the code lives in ``effl_plugins.bench.augment``.
"""

import sys


def main(argv=None) -> int:
    from effl_plugins.cli import main as effl

    return effl(["bench", "--only", "augment", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

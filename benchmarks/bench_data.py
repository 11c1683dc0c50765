"""Data-loader throughput (JPEG decode + random-resized-crop + RandAugment + collate) against timm's loader.

    python benchmarks/bench_data.py [--quick] [--out DIR]

Same as ``effl bench --only data``; the code lives in ``effl_plugins.bench.data``.
"""

import sys


def main(argv=None) -> int:
    from effl_plugins.cli import main as effl

    return effl(["bench", "--only", "data", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

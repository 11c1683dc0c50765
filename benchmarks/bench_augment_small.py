"""The batch augmentations on the small calls self-training runs make (1, 8 and 56 images of 32 px,
16 of 64 px; uint8 and float32), against kornia and the torchvision per-image loop, with each op's fixed
cost per call (the intercept of time against batch size).

    python benchmarks/bench_augment_small.py --small [--out DIR] [--ops NAME ...] [--row-seconds S] [--threads T]

The code lives in ``effl_plugins.bench.augment`` (``SMALL_CASES``, bench name ``augment-small``).
"""

import sys


def main(argv: list[str] | None = None) -> int:
    """The batch ops on the small cases alone; writes ``DIR/augment-small-<device>-torch<version>.json`` and
    ``DIR/RESULTS.md``."""
    import argparse
    from pathlib import Path

    from effl_plugins.bench.report import write_report
    from effl_plugins.bench.run import run_bench

    parser = argparse.ArgumentParser(prog="python benchmarks/bench_augment_small.py", description=main.__doc__)
    parser.add_argument("--small", action="store_true", required=True, help="the small cases (SMALL_CASES)")
    parser.add_argument("--out", default="effl-bench", metavar="DIR")
    parser.add_argument("--ops", nargs="+", metavar="NAME")
    parser.add_argument("--row-seconds", type=float, metavar="S")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    options = {"ops": args.ops} if args.ops else {}
    path = run_bench(
        "augment-small",
        device=args.device,
        out_dir=args.out,
        threads=args.threads,
        row_seconds=args.row_seconds,
        **options,
    )
    print(f"wrote {path}")
    print(f"wrote {write_report(Path(args.out), Path(args.out) / 'RESULTS.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

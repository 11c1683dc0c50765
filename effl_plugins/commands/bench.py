"""``effl bench [--quick] [--device cpu|cuda] [--out DIR] [--only augment|loss|data] [--markdown PATH]``

Times the augmentation and loss kernels against torchvision, kornia, albumentations, timm and the
eager/compiled loss references, and the data loader (decode + crop + RandAugment + collate) against
timm's; writes ``<out>/<bench>-<device>-torch<version>.json``, one PNG per bench and a Markdown
report of every result in ``<out>``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("bench", help="benchmark augmentation and loss kernels against their peers", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small subset of cases, no torch.compile (< 3 min on 2 CPU cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    parser.add_argument("--out", metavar="DIR", help="results folder (default: benchmarks/results of the checkout)")
    parser.add_argument("--only", choices=("augment", "loss", "data"), help="run one family")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--markdown", metavar="PATH", help="report path (default: RESULTS.md beside the results folder)")
    return parser


def run(args) -> int:
    from pathlib import Path

    from ..bench.report import write_report
    from ..bench.run import BENCHES, default_out_dir, run_bench

    if not (args.device == "cpu" or args.device.startswith("cuda")):
        raise ValueError(f"--device must be cpu or cuda[:N], got {args.device!r}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    out = Path(args.out) if args.out else default_out_dir()
    for bench in [args.only] if args.only else BENCHES:
        print(f"wrote {run_bench(bench, quick=args.quick, device=args.device, out_dir=out, threads=args.threads)}")
    markdown = Path(args.markdown) if args.markdown else out.parent / "RESULTS.md"
    print(f"wrote {write_report(out, markdown)}")
    return 0

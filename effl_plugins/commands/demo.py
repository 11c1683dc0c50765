"""``effl demo [--out DIR] [--seed S] [--quick]``: every stage on the embedded digits with 100
labels: supervised baseline, fine-tuning, pseudo-labelling, Noisy Student rounds, knowledge distillation
of the last Noisy Student beside the student alone, and FixMatch; prints a table and writes
``DIR/report.json`` and ``DIR/accuracy.png``."""

from __future__ import annotations

import argparse

from ._train_args import seed_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("demo", help="the end-to-end self-training demo on digits", description=__doc__)
    parser.add_argument("--out", default="effl-demo", metavar="DIR", help="output directory (default ./effl-demo)")
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="one Noisy Student round instead of three (about two thirds of the time)"
    )
    parser.add_argument(
        "--labels",
        type=int,
        default=100,
        metavar="N",
        help="labeled digits, class-stratified (default 100; 20 and 40 make it harder)",
    )
    return parser


def run(args) -> int:
    from ..demo.run import run_demo

    print(f"{'stage':<36} {'accuracy':>8} {'time':>8}")
    if not 10 <= args.labels <= 1000:
        raise ValueError(f"--labels must be between 10 (one per class) and 1000, got {args.labels}")
    report = run_demo(args.out, seed=args.seed, quick=args.quick, labels=args.labels)
    print(f"report: {args.out}/report.json, plot: {args.out}/accuracy.png")
    baseline = report["stages"][0]["accuracy"]
    best = max(report["stages"][1:], key=lambda s: s["accuracy"])
    print(f"best: {best['name']} {best['accuracy']:.2%} vs supervised baseline {baseline:.2%}")
    return 0

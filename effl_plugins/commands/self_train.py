"""``effl self-train --data digits|PATH [--unlabeled DIR] --strategy noisy_student|fixmatch|mean_teacher|pseudo_label
[--teacher NAME[:CKPT]] [--student NAME ...] [--rounds N] [--out DIR] [--seed S] [--resume]``: run one
self-training strategy and print its summary (also written to ``DIR/summary.json``)."""

from __future__ import annotations

import argparse
import json

STRATEGIES = ("noisy_student", "fixmatch", "mean_teacher", "pseudo_label")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("self-train", help="train with unlabeled images (self-training)", description=__doc__)
    parser.add_argument("--data", required=True, metavar="digits|PATH", help="'digits' or an ImageFolder root with train/ and val/")
    parser.add_argument("--unlabeled", metavar="DIR", help="a folder of unlabeled images (digits: its own unlabeled split)")
    parser.add_argument("--strategy", required=True, choices=STRATEGIES)
    parser.add_argument("--teacher", metavar="NAME[:CKPT]", help="the first teacher (default: trained on the labeled set)")
    parser.add_argument("--student", nargs="+", metavar="NAME", help="student model(s); noisy_student: one per round")
    parser.add_argument("--rounds", type=int, default=3, help="noisy_student rounds (default 3)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", metavar="DIR", help="output directory (labels, checkpoints, summary.json)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from DIR: finished label shards and rounds (pseudo_label, noisy_student), the last finished epoch (fixmatch, mean_teacher)")
    return parser


def strategy_kwargs(args) -> dict:
    """The registry kwargs for ``args.strategy`` from the command line."""
    kwargs = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "device": args.device}
    students = args.student or []
    if args.strategy in ("pseudo_label", "noisy_student"):
        kwargs["teacher"] = args.teacher
        kwargs["model"] = students[0] if students else (args.teacher or "test_resnet").partition(":")[0]
    else:
        if args.teacher:
            raise ValueError(f"--teacher does not apply to --strategy {args.strategy} (its teacher is the model itself)")
        if len(students) > 1:
            raise ValueError(f"--strategy {args.strategy} trains one model; got --student {' '.join(students)}")
        kwargs["model"] = students[0] if students else "test_resnet"
    if args.strategy == "noisy_student":
        kwargs["rounds"] = args.rounds
        if students:
            kwargs["students"] = students
    return kwargs


def run(args) -> int:
    import effl_plugins as ep

    from ..data import load_data

    unlabeled = args.unlabeled or ("digits" if args.data == "digits" else None)
    if unlabeled is None:
        raise ValueError(f"--unlabeled DIR is needed with --data {args.data!r} (only 'digits' has its own unlabeled split)")
    data = load_data(args.data, args.image_size, unlabeled=unlabeled)
    for path, reason in getattr(data.unlabeled, "skipped", []):
        print(f"skipped {path}: {reason}")
    summary = ep.create_strategy(args.strategy, **strategy_kwargs(args)).run(data, out_dir=args.out, resume=args.resume)
    keep = ("strategy", "best_accuracy", "final_accuracy", "epochs", "teacher_accuracy", "pseudo_labels", "rounds")
    print(json.dumps({k: summary[k] for k in keep if k in summary}, indent=2))
    return 0

"""``effl distill --data digits|PATH --teacher NAME[:CKPT] --student NAME [--loss kd] [--loss-arg k=v ...]
[--teacher-epochs N] [timm flags]``, or ``--teacher-cache CACHE`` instead of ``--teacher``

Knowledge distillation with any registered loss (``effl list losses``; ``effl info NAME`` shows its
arguments). With no teacher checkpoint the teacher is first trained on the labeled data
(``--teacher-epochs``, default ``--epochs``). The student's data config drives the data; a teacher
from a checkpoint sees the batch at its own size and normalisation. Every error is raised before
training starts, with nothing written to ``--out``.
"""

from __future__ import annotations

import argparse

from ._parser import add_documented_parser
from ._train_args import add_data_arg, add_training_args


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_documented_parser(subparsers, "distill", "knowledge distillation from a frozen teacher", __doc__)
    add_data_arg(parser)
    teacher = parser.add_mutually_exclusive_group(required=True)
    teacher.add_argument("--teacher", help="timm model NAME or NAME:CHECKPOINT")
    teacher.add_argument(
        "--teacher-cache",
        metavar="CACHE",
        help="learn from a teacher's stored outputs (effl teacher-cache with the same flags): no teacher is built",
    )
    parser.add_argument("--student", required=True, help="timm model NAME (or NAME:CHECKPOINT)")
    parser.add_argument("--loss", default="kd", help="registered loss name (effl list losses)")
    parser.add_argument(
        "--loss-arg", action="append", default=[], metavar="K=V", help="loss keyword argument (repeatable)"
    )
    parser.add_argument("--teacher-epochs", type=int, default=None, metavar="N")
    parser.add_argument(
        "--unlabeled", metavar="DIR", help="unlabeled images the teacher also teaches on (digits: its own)"
    )
    add_training_args(parser, strategy="distill")
    return parser


def run(args) -> int:
    from ..kv import parse_kv
    from ._training import run_strategy

    loss_args = parse_kv(args.loss_arg, option="--loss-arg")  # checked against the loss by the strategy
    kwargs = {"loss": args.loss, "loss_args": loss_args, "teacher_epochs": args.teacher_epochs}
    kwargs.update({"teacher": args.teacher} if args.teacher else {"teacher_cache": args.teacher_cache})
    return run_strategy(
        args,
        command="distill",
        strategy=args.strategy,
        model=args.student,
        strategy_kwargs=kwargs,
        data=args.data,
        unlabeled=args.unlabeled,
    )

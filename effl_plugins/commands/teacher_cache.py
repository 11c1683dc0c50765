"""``effl teacher-cache --data digits|PATH --teacher NAME:CKPT --student NAME --out CACHE [--top-k K]
[--precision float32|float16] [--shard-steps S] [the distillation run's flags]``

Runs a trained teacher once on every view a distillation run with the same flags and seed draws (the
crops and flips of the workers, ``--aug``, mixing, erasing), for ``--epochs`` epochs, and stores its class
probabilities per view in ``CACHE`` (a pseudo-label store whose items are the views, plus
``teacher-cache.json`` and the recording's run directory ``CACHE/run``). ``effl distill --teacher-cache
CACHE`` with the same flags then trains students with no teacher built; a run whose flags would draw
other views is refused, naming the flag. ``--resume`` continues a recording that was stopped or killed.
"""

from __future__ import annotations

import argparse

from ._parser import add_documented_parser
from ._store_args import add_precision_arg
from ._train_args import add_data_arg, add_training_args, positive_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_documented_parser(
        subparsers, "teacher-cache", "store a teacher's outputs on a distillation run's views", __doc__
    )
    add_data_arg(parser)
    parser.add_argument("--teacher", required=True, help="timm model NAME:CHECKPOINT (a trained teacher)")
    parser.add_argument(
        "--student", required=True, help="the student's timm model NAME (its input size sets the views)"
    )
    parser.add_argument(
        "--top-k",
        type=positive_int,
        default=None,
        metavar="K",
        help="keep each view's K most probable classes (default: all)",
    )
    add_precision_arg(parser)
    parser.add_argument(
        "--shard-steps", type=positive_int, default=50, metavar="S", help="steps of views a shard holds (default: 50)"
    )
    parser.add_argument(
        "--unlabeled", metavar="DIR", help="unlabeled images the students will also learn on (digits: its own)"
    )
    add_training_args(parser, strategy="distill")
    return parser


def run(args) -> int:
    from ._training import run_strategy

    def record(strategy, data, out, resume: bool):
        if out is None:
            raise ValueError("effl teacher-cache needs --out CACHE: the directory the views' outputs go to")
        return strategy.record_cache(
            data, out, top_k=args.top_k, shard_steps=args.shard_steps, precision=args.precision, resume=resume
        )

    return run_strategy(
        args,
        command="teacher-cache",
        strategy="distill",
        model=args.student,
        strategy_kwargs={"teacher": args.teacher, "teacher_epochs": 0},
        data=args.data,
        unlabeled=args.unlabeled,
        action=record,
    )

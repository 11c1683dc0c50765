"""``effl self-train --data digits|PATH [--unlabeled DIR] --strategy NAME [--teacher NAME[:CKPT]]
[--student NAME ...] [--rounds N] [timm flags]``

Self-training with any registered strategy (``pseudo_label``, ``noisy_student``, ``fixmatch``,
``mean_teacher``, or a plugin's; its own arguments with ``--strategy-arg k=v``). ``--teacher`` and
``--student`` apply to the teacher-student strategies; ``--rounds`` to Noisy Student.
"""

from __future__ import annotations

import argparse

from ._parser import add_documented_parser
from ._train_args import add_data_arg, add_training_args

TEACHER_STUDENT = ("pseudo_label", "noisy_student")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_documented_parser(subparsers, "self-train", "train with unlabeled images (self-training)", __doc__)
    add_data_arg(parser)
    parser.add_argument(
        "--unlabeled", metavar="DIR", help="a folder of unlabeled images (digits: its own unlabeled split)"
    )
    parser.add_argument(
        "--teacher", metavar="NAME[:CKPT]", help="the first teacher (default: trained on the labeled set)"
    )
    parser.add_argument("--student", nargs="+", metavar="NAME", help="student model(s); noisy_student: one per round")
    parser.add_argument(
        "--model", metavar="NAME[:CKPT]", help="the model of single-model strategies (default test_resnet)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="noisy_student rounds (default 3)")
    add_training_args(parser)
    return parser


def strategy_kwargs(args) -> tuple[str, dict]:
    """``(model, kwargs)`` for ``args.strategy`` from the command line."""
    if not args.strategy:
        raise ValueError("--strategy NAME is required (effl list strategies)")
    students = args.student or []
    kwargs: dict = {}
    if args.strategy in TEACHER_STUDENT:
        kwargs["teacher"] = args.teacher
        model = students[0] if students else (args.teacher or args.model or "test_resnet").partition(":")[0]
    else:
        if args.teacher:
            raise ValueError(
                f"--teacher does not apply to --strategy {args.strategy} (its teacher is the model itself)"
            )
        if len(students) > 1:
            raise ValueError(f"--strategy {args.strategy} trains one model; got --student {' '.join(students)}")
        model = students[0] if students else (args.model or "test_resnet")
    if args.strategy == "noisy_student":
        if args.rounds is not None:
            kwargs["rounds"] = args.rounds
        if students:
            kwargs["students"] = students
    elif args.rounds is not None:
        raise ValueError(f"--rounds applies to --strategy noisy_student only, got --strategy {args.strategy}")
    return model, kwargs


def run(args) -> int:
    from ._training import run_strategy

    unlabeled = args.unlabeled or ("digits" if args.data == "digits" else None)
    if unlabeled is None:
        raise ValueError(
            f"--unlabeled DIR is needed with --data {args.data!r} (only 'digits' has its own unlabeled split)"
        )
    model, kwargs = strategy_kwargs(args)
    return run_strategy(
        args,
        command="self-train",
        strategy=args.strategy,
        model=model,
        strategy_kwargs=kwargs,
        data=args.data,
        unlabeled=unlabeled,
    )

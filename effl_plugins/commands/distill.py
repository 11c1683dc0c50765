"""``effl distill --data digits|PATH --teacher NAME[:CKPT] --student NAME [--loss kd] [--loss-arg k=v ...]
[--epochs N] [--batch-size B] [--out DIR] [--seed S] [--resume]``

With no teacher checkpoint the teacher is first trained on the labeled data (``--teacher-epochs``,
default ``--epochs``). Every error is raised before training starts, with nothing written to ``--out``.
"""

from __future__ import annotations

import argparse
import ast

from .finetune import add_common, finish, resolve_device


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("distill", help="knowledge distillation from a frozen teacher", description=__doc__)
    add_common(parser)
    parser.add_argument("--teacher", required=True, help="timm model NAME or NAME:CHECKPOINT")
    parser.add_argument("--student", required=True, help="timm model NAME (or NAME:CHECKPOINT)")
    parser.add_argument("--loss", default="kd", help="registered loss name (effl list losses)")
    parser.add_argument("--loss-arg", action="append", default=[], metavar="K=V", help="loss keyword argument (repeatable)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--teacher-epochs", type=int, default=None)
    return parser


def parse_loss_args(pairs: list[str]) -> dict:
    """``["temperature=4", "alpha=0.5"]`` -> ``{"temperature": 4, "alpha": 0.5}`` (Python literals, else strings)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--loss-arg must be KEY=VALUE, got {pair!r}")
        try:
            parsed[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed[key.strip()] = value
    return parsed


def run(args) -> int:
    import effl_plugins as ep
    from effl_plugins.data import load_data

    loss_args = parse_loss_args(args.loss_arg)
    data = load_data(args.data, image_size=args.image_size)
    strategy = ep.create_strategy(
        "distill", model=args.student, teacher=args.teacher, loss=args.loss, loss_args=loss_args, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=resolve_device(args.device),
        teacher_epochs=args.teacher_epochs,
    )
    strategy.build(data.num_classes)  # unknown names, unfit checkpoints, bad loss arguments: fail before --out is touched
    return finish(strategy.run(data, out_dir=args.out, resume=args.resume), args.out)

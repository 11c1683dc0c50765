"""``effl finetune --data digits|PATH --model NAME[:CKPT] [--strategy finetune|linear_probe|NAME] [timm flags]``

Transfer learning on labeled images with any registered strategy (``effl list strategies``; its own
arguments with ``--strategy-arg k=v``), the model's own data config, and timm train.py's flags.
Runs under ``torchrun --nproc_per_node=N`` as DistributedDataParallel. Every model, checkpoint, data
and run-directory error is raised before training starts, with nothing written to ``--out``.
"""

from __future__ import annotations

import argparse

from ._parser import add_documented_parser
from ._train_args import add_data_arg, add_training_args


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = add_documented_parser(
        subparsers, "finetune", "transfer learning: linear probe, full fine-tuning, any strategy", __doc__
    )
    add_data_arg(parser)
    parser.add_argument("--model", required=True, help="timm model NAME or NAME:CHECKPOINT")
    add_training_args(parser, strategy="finetune")
    return parser


def run(args) -> int:
    from ._training import run_strategy

    return run_strategy(
        args, command="finetune", strategy=args.strategy, model=args.model, strategy_kwargs={}, data=args.data
    )

"""``effl finetune --data digits|PATH --model NAME[:CKPT] --strategy linear_probe|finetune [--epochs N]
[--batch-size B] [--lr X] [--out DIR] [--seed S] [--resume]``

Runs under ``torchrun --nproc_per_node=N`` as DistributedDataParallel. Every model, checkpoint and
data error is raised before training starts, with nothing written to ``--out``.
"""

from __future__ import annotations

import argparse
import json

STRATEGIES = ("linear_probe", "finetune")


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="'digits' (embedded) or an ImageFolder root with train/ and val/")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=None, help="directory for checkpoint.pt, metrics.jsonl, summary.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    parser.add_argument("--image-size", type=int, default=32)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("finetune", help="transfer learning: linear probe or full fine-tuning", description=__doc__)
    add_common(parser)
    parser.add_argument("--model", required=True, help="timm model NAME or NAME:CHECKPOINT")
    parser.add_argument("--strategy", choices=STRATEGIES, default="finetune")
    parser.add_argument("--lr", type=float, default=None, help="head learning rate (default 1e-2 linear_probe, 1e-3 finetune)")
    return parser


def resolve_device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def finish(summary: dict, out: str | None) -> int:
    from effl_plugins.distributed import distributed_info

    if distributed_info().main:
        print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))
    return 0


def run(args) -> int:
    import effl_plugins as ep
    from effl_plugins.data import load_data

    data = load_data(args.data, image_size=args.image_size)
    kwargs = {"model": args.model, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
              "device": resolve_device(args.device)}
    if args.lr is not None:
        kwargs["lr"] = args.lr
    strategy = ep.create_strategy(args.strategy, **kwargs)
    strategy.build(data.num_classes)  # unknown model or unfit checkpoint: fail here, before --out is touched
    return finish(strategy.run(data, out_dir=args.out, resume=args.resume), args.out)

"""``effl pseudo-label --teacher NAME:CKPT --unlabeled DIR|digits --out STORE [--threshold X] [--soft]
[--temperature T] [--balance K] [--top-k K] [--precision float32|float16] [--resume]``: label unlabeled
images with a teacher into a resumable pseudo-label store (see ``effl_plugins.strategies.selftrain.store``)
and write the selection (``STORE/selection.json``: kept positions, ids, labels and their class names after
thresholding and balancing, and the teacher's class names by id)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ._store_args import add_precision_arg
from ._train_args import device_name, non_negative_int, positive_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("pseudo-label", help="label unlabeled images with a teacher", description=__doc__)
    parser.add_argument("--teacher", required=True, metavar="NAME:CKPT", help="timm model name and checkpoint file")
    parser.add_argument("--unlabeled", required=True, metavar="DIR|digits", help="a folder of images, or 'digits'")
    parser.add_argument("--out", required=True, metavar="STORE", help="directory of the pseudo-label store")
    parser.add_argument("--threshold", type=float, default=0.0, help="keep labels with confidence >= X (default 0)")
    parser.add_argument("--soft", action="store_true", help="keep the probabilities (soft labels), not just the argmax")
    parser.add_argument("--temperature", type=float, default=1.0, help="softmax temperature of the teacher")
    parser.add_argument(
        "--balance", type=int, default=None, metavar="K", help="K images per class (Noisy Student balancing)"
    )
    parser.add_argument(
        "--top-k", type=int, default=None, metavar="K", help="store only the top-K probabilities per image"
    )
    add_precision_arg(parser)
    parser.add_argument(
        "--img-size",
        type=positive_int,
        default=None,
        metavar="PX",
        help="input size (default: the checkpoint's data config, else the model's)",
    )
    parser.add_argument("--shard-size", type=positive_int, default=256)
    parser.add_argument(
        "-j",
        "--workers",
        type=non_negative_int,
        default=min(4, os.cpu_count() or 1),
        metavar="N",
        help="loader processes (default: 4, at most the CPU count)",
    )
    parser.add_argument(
        "--device", type=device_name, default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N"
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        type=_auto_only,
        metavar="auto",
        help="skip the shards a killed run already finished; a store not yet begun starts fresh, so a bare "
        "--resume and --resume auto (what an elastic restart passes every time) are the same",
    )
    return parser


def _auto_only(text: str) -> bool:
    """``--resume auto``: the one value ``--resume`` takes here (the store decides what is left to label)."""
    if text != "auto":
        raise argparse.ArgumentTypeError(f"expected no value or 'auto', got {text!r}")
    return True


def teacher_class_names(checkpoint, num_classes: int) -> list[str]:
    """The class names the teacher's run recorded in ``checkpoint`` (``class_names``, one string per class), else
    ``"0"``, ``"1"``, ... (a checkpoint without them, such as plain weights or safetensors)."""
    from ..errors import CheckpointError

    try:
        return checkpoint.class_names(num_classes)
    except CheckpointError:  # its weights were read already; a record it lacks names nothing
        return [str(i) for i in range(num_classes)]


def run(args) -> int:
    import torch.distributed as dist

    from ..train.distributed import init_distributed
    from ._train_args import resolve_device

    args.device = resolve_device(args.device)
    info, _ = init_distributed(args.device)  # under torchrun each rank labels its own share of the images
    try:
        hidden, ids, names = _label(args)  # returns after every rank's shards are on disk
        if info.main:
            _select(args, hidden, ids, names)
    finally:
        if info.distributed:
            dist.destroy_process_group()
    return 0


def _unlabeled(args, teacher_spec: str, checkpoint):
    """The unlabeled images through the teacher's eval transform (from its ``checkpoint``), and their true
    labels where known."""
    from ..data import build_data, eval_transform, unlabeled_folder
    from ._training import resolve_model_data_config

    config = resolve_model_data_config(teacher_spec, {"img_size": args.img_size}, checkpoint)
    if args.unlabeled == "digits":
        bundle = build_data("digits", config, max_image_pixels=None)
        return bundle.unlabeled_eval, bundle.hidden_targets
    # verify: every file decoded once up front, so a truncated or corrupt image is skipped and named
    # here instead of stopping the labelling in a DataLoader worker
    bundle_images = unlabeled_folder(args.unlabeled, eval_transform(config), verify=True, workers=max(1, args.workers))
    for path, reason in bundle_images.skipped:
        print(f"effl pseudo-label: skipped {path}: {reason}", file=sys.stderr)
    return bundle_images, None


def _label(args):
    """Label this rank's share into the store, the teacher's checkpoint read once; returns the true labels where
    known (digits), the images' ids and the teacher's class names."""
    from ..models import checkpoint_classes, parse_model_spec
    from ..strategies.base import Strategy
    from ..strategies.selftrain.labeler import label_dataset
    from ..strategies.selftrain.weights import model_hash

    name, path = parse_model_spec(args.teacher)
    if path is None:
        raise ValueError(f"--teacher must be NAME:CHECKPOINT (a trained teacher), got {args.teacher!r}")
    helper = Strategy(args.teacher, device=args.device, workers=args.workers)
    checkpoint = helper.checkpoint(args.teacher)
    num_classes = checkpoint_classes(name, checkpoint)
    unlabeled, hidden = _unlabeled(args, args.teacher, checkpoint)
    if len(unlabeled) == 0:
        raise ValueError(f"--unlabeled {args.unlabeled!r} holds no readable images")
    teacher = helper.build_model(args.teacher, num_classes)
    model_input = helper.model_input(teacher, None, spec=args.teacher)
    label_dataset(
        teacher,
        unlabeled,
        args.out,
        num_classes=num_classes,
        model_input=model_input,
        teacher_hash=model_hash(args.teacher, teacher),
        temperature=args.temperature,
        top_k=args.top_k,
        shard_size=args.shard_size,
        precision=args.precision,
        resume=args.resume,
        device=args.device,
        workers=args.workers,
        progress=lambda done, total: print(f"pseudo-labelling: {done}/{total} images", file=sys.stderr, flush=True),
    )
    return hidden, unlabeled.ids, teacher_class_names(checkpoint, num_classes)


def _select(args, hidden, ids, names: list[str]) -> None:
    """Read the merged store, threshold and balance it, write ``selection.json`` and print a summary; under
    rank 0's store lock, so another run labelling or selecting on this store is refused, not interleaved."""
    from ..strategies.selftrain.pseudo_label import select_pseudo_labels
    from ..strategies.selftrain.store import read_store, store_lock
    from ..train.checkpoints import atomic_write_text

    with store_lock(args.out, 0):
        labels = read_store(args.out, expected_ids=ids)
        chosen = select_pseudo_labels(labels.probs, args.threshold, args.balance)
        kept = labels.probs[chosen]
        selection = {
            "threshold": args.threshold,
            "balance": args.balance,
            "soft": args.soft,
            "teacher_hash": labels.teacher_hash,
            "positions": chosen.tolist(),
            "ids": [labels.ids[i] for i in chosen.tolist()],
            "labels": kept.argmax(1).tolist(),
            "label_names": [names[i] for i in kept.argmax(1).tolist()],
            "class_names": names,
        }
        if args.soft:
            selection["probs"] = kept.tolist()
        atomic_write_text(f"{args.out}/selection.json", json.dumps(selection) + "\n")
        line = f"labelled {len(labels.ids)} images into {args.out}; kept {len(chosen)} (threshold {args.threshold}"
        line += f", balance {args.balance})" if args.balance else ")"
        if hidden is not None and len(chosen):
            line += f"; pseudo-label accuracy {(kept.argmax(1) == hidden[chosen]).float().mean():.2%}"
        print(line)

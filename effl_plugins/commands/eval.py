"""``effl eval --model NAME:CKPT --data digits|PATH [--split val|train] [--out DIR]``: top-1 / top-5,
per-class accuracy and a confusion matrix (``DIR/confusion.json`` and ``DIR/confusion.png``) of a
trained model, on the split seen through the eval transform of the data config its checkpoint
recorded (timm's resize by ``crop_pct`` and centre crop).

A folder of class subfolders the model was trained on with ``--val-fraction`` is scored on the split the
run held out: the checkpoint records the fraction, the seed and a digest of the split, and a folder
whose split no longer matches is refused."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ._train_args import device_name, non_negative_int, open_fraction, positive_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "eval", help="evaluate a trained model: accuracy, per class, confusion matrix", description=__doc__
    )
    parser.add_argument("--model", required=True, metavar="NAME:CKPT", help="timm model name and checkpoint file")
    parser.add_argument("--data", required=True, metavar="digits|PATH", help="'digits' or a dataset root")
    parser.add_argument("--split", choices=("val", "train"), default="val", help="the split to score (default val)")
    parser.add_argument(
        "--val-fraction",
        type=open_fraction,
        default=None,
        metavar="F",
        help="a folder of class subfolders: the share held out for val (default: what the checkpoint's run held out)",
    )
    parser.add_argument("--train-split", default=None, metavar="NAME", help="the train split's folder (or NAME.tar)")
    parser.add_argument("--val-split", default=None, metavar="NAME", help="the val split's folder (or NAME.tar)")
    parser.add_argument(
        "--out", default="effl-eval", metavar="DIR", help="where the confusion matrix goes (./effl-eval)"
    )
    parser.add_argument("-b", "--batch-size", type=positive_int, default=128, metavar="N")
    parser.add_argument("-j", "--workers", type=non_negative_int, default=min(4, os.cpu_count() or 1), metavar="N")
    parser.add_argument("--device", type=device_name, default="auto")
    return parser


def confusion_matrix(model, model_input, dataset, num_classes: int, device: str, batch_size: int, workers: int):
    """``[K, K]`` int64 counts, rows the true class, columns the top-1 prediction; and top-5 hits."""
    import torch
    from torch.utils.data import DataLoader

    matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    top5 = 0
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    with torch.no_grad():
        for images, targets in loader:
            logits = model(model_input(images.to(device))).float().cpu()
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices
            matrix.index_put_((targets, top[:, 0]), torch.ones(len(targets), dtype=torch.int64), accumulate=True)
            top5 += int((top == targets[:, None]).any(dim=1).sum())
    return matrix, top5


def plot_confusion(matrix, names: list[str], path: Path) -> None:
    """The matrix as a PNG at ``path``, written atomically (see :func:`run`)."""
    import io

    import matplotlib

    from ..train.checkpoints import atomic_write_bytes

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.45 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix.numpy(), cmap="Blues")
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), count in zip(((i, j) for i in range(len(names)) for j in range(len(names))), matrix.flatten().tolist()):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    image = io.BytesIO()
    try:
        fig.savefig(image, format="png", dpi=120)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, image.getvalue())


def recorded_split(run_args: dict, data: str) -> dict | None:
    """The held-out split the checkpoint's run recorded (``run_args["split"]``) when it trained on ``data``
    (the same folder), else None."""
    split = run_args.get("split")
    if not isinstance(split, dict) or not isinstance(split.get("data"), str):
        return None
    return dict(split) if split["data"] == os.path.realpath(data) else None


def run(args) -> int:
    """Score the model; ``confusion.json`` and ``confusion.png`` are each written atomically (a temporary file
    renamed into place), and a failed write (a full disk) is one ``CheckpointError`` naming the file."""
    from ..data import build_data, eval_transform
    from ..train.checkpoints import atomic_write_text
    from ._checkpoint_model import load_trained_model
    from ._train_args import resolve_device

    device = resolve_device(args.device)
    trained = load_trained_model(args.model, device)
    recorded = recorded_split(trained.args, args.data)
    fraction = args.val_fraction if args.val_fraction is not None else (recorded or {}).get("val_fraction")
    seed = (recorded or {}).get("seed", 0)
    bundle = build_data(
        args.data,
        trained.data_config,
        unlabeled=None,
        val_fraction=fraction,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else 0,
        train_split=args.train_split,
        val_split=args.val_split,
    )
    if bundle.split is not None and recorded is not None and fraction == recorded.get("val_fraction"):
        bundle.split.check_against(recorded, f"the model's run held out (recorded in {args.model.split(':', 1)[1]!r})")
    dataset = bundle.test if args.split == "val" else bundle.labeled.with_transform(eval_transform(trained.data_config))
    names = trained.class_names
    if bundle.num_classes != len(names):
        raise ValueError(f"--data {args.data!r} has {bundle.num_classes} classes, the model {len(names)}")
    matrix, top5 = confusion_matrix(
        trained.model, trained.model_input, dataset, len(names), device, args.batch_size, args.workers
    )
    total = int(matrix.sum())
    per_class = {
        name: (int(matrix[i, i]) / int(matrix[i].sum()) if int(matrix[i].sum()) else None)
        for i, name in enumerate(names)
    }
    report = {
        "model": args.model,
        "data": args.data,
        "split": args.split,
        **({"held_out": bundle.split.summary()} if bundle.split is not None else {}),
        "images": total,
        "top1": int(matrix.diag().sum()) / max(total, 1),
        "top5": top5 / max(total, 1),
        "per_class": per_class,
        "class_names": names,
        "confusion": matrix.tolist(),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "confusion.json", json.dumps(report, indent=2) + "\n")
    plot_confusion(matrix, names, out / "confusion.png")
    print(json.dumps({k: report[k] for k in ("model", "split", "images", "top1", "top5", "per_class")}, indent=2))
    return 0

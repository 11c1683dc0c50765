"""``effl predict --model NAME:CKPT IMAGE... | DIR [--top-k K] [--format text|json]``: the top-K classes
(names from the checkpoint) and probabilities of each image, through the model's eval transform."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._train_args import device_name, positive_int


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("predict", help="classify images with a trained model", description=__doc__)
    parser.add_argument("--model", required=True, metavar="NAME:CKPT", help="timm model name and checkpoint file")
    parser.add_argument("images", nargs="+", metavar="IMAGE|DIR", help="image files, or folders (every image inside)")
    parser.add_argument(
        "--top-k", type=positive_int, default=5, metavar="K", help="classes shown per image (default 5)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text, or one JSON object per line")
    parser.add_argument("--device", type=device_name, default="auto")
    return parser


def image_paths(items: list[str]) -> list[Path]:
    """The files named, and every image file under the folders named (sorted)."""
    from ..data import IMAGE_EXTENSIONS

    paths = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"no such image file or folder: {item!r}")
    if not paths:
        raise ValueError(f"no image files in {' '.join(items)}")
    return paths


def run(args) -> int:
    import torch

    from ..data import decode_image, eval_transform
    from ._checkpoint_model import load_trained_model
    from ._train_args import resolve_device

    device = resolve_device(args.device)
    trained = load_trained_model(args.model, device)
    transform = eval_transform(trained.data_config)
    k = min(args.top_k, len(trained.class_names))
    for path in image_paths(args.images):
        image = transform(decode_image(path.read_bytes(), str(path)))
        with torch.no_grad():
            probs = torch.softmax(trained.model(trained.model_input(image[None].to(device))).float(), dim=1)[0].cpu()
        values, indices = probs.topk(k)
        top = [
            {"class": trained.class_names[i], "probability": round(float(p), 6)}
            for p, i in zip(values, indices.tolist())
        ]
        if args.format == "json":
            print(json.dumps({"image": str(path), "top": top}))
        else:
            print(f"{path}: " + ", ".join(f"{t['class']} {t['probability']:.2%}" for t in top))
    return 0

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


def image_paths(items: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files named, and every image file under the folders named (natural order), with
    ``(path, reason)`` for what a folder walk could not follow (a dangling symlink, a loop).

    Raises ``FileNotFoundError`` for an argument that is not there, ``ValueError`` for one that is
    neither a folder nor a regular file (a device, a pipe, a symlink to one) and when no image is left.
    """
    from ..data.decode import regular_file_problem
    from ..data.sources import walk_images

    paths: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths += [path / rel for rel in walk_images(path, skipped)]
            continue
        problem = regular_file_problem(path)
        if problem is None:
            paths.append(path)
        elif problem.startswith("no such file"):
            raise FileNotFoundError(f"IMAGE {item!r}: no such image file or folder")
        else:
            raise ValueError(f"IMAGE {item!r} is {problem} (expected an image file or a folder of images)")
    if not paths:
        raise ValueError(f"no image files in {' '.join(items)}")
    return paths, skipped


def run(args) -> int:
    """Predict every readable image; each one that cannot be read (not an image, truncated, a header
    declaring more than ``DEFAULT_MAX_IMAGE_PIXELS``) is named on stderr, and the exit status is then 2."""
    import sys

    import torch

    from ..data import ImageDecodeError, eval_transform
    from ..data.decode import read_image_file
    from ._checkpoint_model import check_model_spec, load_trained_model
    from ._train_args import resolve_device

    check_model_spec(args.model)  # the cheap checks first: the checkpoint file (not read), then the image arguments
    paths, unreadable = image_paths(args.images)
    device = resolve_device(args.device)
    trained = load_trained_model(args.model, device)
    transform = eval_transform(trained.data_config)
    k = min(args.top_k, len(trained.class_names))
    for path, reason in unreadable:
        print(f"effl predict: error: cannot read {path!r}: {reason}", file=sys.stderr, flush=True)
    done = 0
    for path in paths:
        try:
            image = transform(read_image_file(path))  # the declared-size check before any decode
        except ImageDecodeError as exc:
            unreadable.append((str(path), exc.reason or str(exc)))
            print(f"effl predict: error: {exc}", file=sys.stderr, flush=True)
            continue
        with torch.no_grad():
            probs = torch.softmax(trained.model(trained.model_input(image[None].to(device))).float(), dim=1)[0].cpu()
        values, indices = probs.topk(k)
        top = [
            {"class": trained.class_names[i], "probability": round(float(p), 6)}
            for p, i in zip(values, indices.tolist())
        ]
        if args.format == "json":
            print(json.dumps({"image": str(path), "top": top}), flush=True)
        else:
            print(f"{path}: " + ", ".join(f"{t['class']} {t['probability']:.2%}" for t in top), flush=True)
        done += 1
    if unreadable:
        print(
            f"effl predict: error: {len(unreadable)} of {done + len(unreadable)} images could not be read "
            "(each named above); the others were predicted",
            file=sys.stderr,
        )
        return 2
    return 0

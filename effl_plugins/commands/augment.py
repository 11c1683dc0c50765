"""``effl augment preview NAME [--param k=v ...] [--backend batch|image] [--seed S] [--size PX] [-c FILE.yaml]
--out grid.png``

A 4x4 grid of a real photo (scikit-learn's sample images) under 16 random draws of an
augmentation: the batch backend augments the 16 copies in one call, the image backend draws 16
times. Mixing ops (cutmix, mixup) mix the two sample photos with soft targets.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._train_args import seed_int

GRID = 4
GAP = 2


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("augment", help="look at augmentations", description=__doc__)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    preview = actions.add_parser(
        "preview", help="write a 4x4 grid of a photo under 16 random draws", description=__doc__
    )
    preview.add_argument("name", help="registered augmentation name (see `effl list augmentations`)")
    preview.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="constructor argument; V is a Python literal (0.5, False, [1, 2]), else a string (repeatable)",
    )
    preview.add_argument("--backend", choices=("batch", "image"), default="batch")
    preview.add_argument("--seed", type=seed_int, default=0)
    preview.add_argument("--size", type=int, default=160, help="tile side in pixels (default 160)")
    preview.add_argument("--photo", choices=("china", "flower"), default="china")
    preview.add_argument("--out", required=True, help="PNG file to write")
    from effl_plugins.config_file import add_config_arg

    add_config_arg(preview)
    return parser


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> kwargs with the one ``k=v`` parser (``effl_plugins.kv.parse_kv``): Python
    literals (``0.5``, ``[1, 2]``, ``False``), else strings."""
    from effl_plugins.kv import parse_kv

    return parse_kv(pairs, option="--param")


def sample_photos(size: int):
    """Both scikit-learn sample photos (china, flower), centre-cropped square and resized: uint8 ``[2, size, size,
    3]`` RGB."""
    import cv2
    import numpy as np
    from sklearn.datasets import load_sample_images

    photos = []
    for img in load_sample_images().images:
        h, w = img.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        photos.append(cv2.resize(img[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(photos)


def draw_tiles(name: str, params: dict[str, Any], backend: str, seed: int, size: int, photo: str):
    """16 augmented tiles, uint8 ``[16, h, w, 3]`` RGB (tiles of other sizes resized to ``size``)."""
    import cv2
    import numpy as np
    import torch

    photos = sample_photos(size)
    first = photos[0 if photo == "china" else 1]
    from effl_plugins.kv import checked_factory

    aug = checked_factory("augmentations", name, params, backend)(**params)
    count = GRID * GRID
    if backend == "image":
        rng = np.random.default_rng(seed)
        tiles = [aug(first.copy(), rng) for _ in range(count)]
    else:
        if getattr(aug, "mixes_samples", False):
            order = torch.arange(count) % 2 if photo == "china" else 1 - torch.arange(count) % 2
            images = torch.from_numpy(photos).permute(0, 3, 1, 2)[order].contiguous()
            targets = torch.nn.functional.one_hot(order, 2).float()
        else:
            images = torch.from_numpy(first).permute(2, 0, 1).expand(count, -1, -1, -1).contiguous()
            targets = None
        out, _ = aug(images, targets, generator=torch.Generator().manual_seed(seed))
        tiles = list(out.permute(0, 2, 3, 1).contiguous().numpy())
    return np.stack(
        [t if t.shape[:2] == (size, size) else cv2.resize(t, (size, size), interpolation=cv2.INTER_AREA) for t in tiles]
    )


def grid_image(tiles):
    """``[16, S, S, 3]`` -> one ``4S + 3 gap`` square image, white gaps."""
    import numpy as np

    side = tiles.shape[1]
    total = GRID * side + (GRID - 1) * GAP
    canvas = np.full((total, total, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        row, col = divmod(i, GRID)
        y, x = row * (side + GAP), col * (side + GAP)
        canvas[y : y + side, x : x + side] = tile.reshape(side, side, -1)
    return canvas


def write_png(path: str | os.PathLike, rgb) -> None:
    """Encode with OpenCV and replace ``path`` atomically (temporary file in the same folder)."""
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError(f"OpenCV could not encode a PNG of shape {rgb.shape}")
    from ..train.checkpoints import atomic_write_bytes

    atomic_write_bytes(path, encoded.tobytes())


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_out(path: str) -> None:
    """Refuse an ``--out`` this command could not have written: a name without the ``.png`` suffix,
    or an existing file that is not a PNG (or not a regular file); an existing PNG is replaced."""
    import stat

    if not path.lower().endswith(".png"):
        raise ValueError(f"--out must name a .png file, got {path!r}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, pipe or socket"
        raise ValueError(f"--out {path!r} is {kind}, not a PNG file this command may replace")
    with open(path, "rb") as handle:
        head = handle.read(len(PNG_SIGNATURE))
    if head != PNG_SIGNATURE:
        raise ValueError(
            f"--out {path!r} exists and is not a PNG image; refusing to replace it (remove it or pick another name)"
        )


def run(args) -> int:
    if args.size < 8:
        raise ValueError(f"--size must be at least 8 pixels, got {args.size}")
    check_out(args.out)
    tiles = draw_tiles(args.name, parse_params(args.param), args.backend, args.seed, args.size, args.photo)
    grid = grid_image(tiles)
    write_png(args.out, grid)
    print(
        f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]}, {GRID * GRID} draws of {args.name!r}, "
        f"backend={args.backend})"
    )
    return 0

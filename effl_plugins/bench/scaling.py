"""Scale on paper: what one more rank buys on this machine, and what a step sends at cluster sizes.

Measured: ``effl finetune`` under ``torchrun --nproc_per_node R`` (gloo, one thread a rank) for R = 1 and
2 on a folder of digit images (written once, decoded in the loader as any folder is), ``--epochs E`` with
the same per-rank batch; the last epoch's training seconds (``metrics.jsonl``, evaluation excluded) give
images per second per rank and the scaling efficiency ``throughput(2) / (2 * throughput(1))``, the faster
of ``rounds`` interleaved repeats.

Counted: the bytes DDP all-reduces a step, the trainable parameters' float32 gradients (models built on
the meta device), and what a ring all-reduce sends per rank, ``2 (N - 1) / N`` of them, for N = 2, 8, 64.

    python -m effl_plugins.bench.scaling [--model resnet18] [--img-size 64] [-b 32] [--images 1024]
        [--epochs 2] [--rounds 2] [--out DIR]

Writes ``DIR/scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .results import publish_json_report

#: Models whose gradient traffic the table counts (timm names).
COUNTED_MODELS = ("resnet50", "vit_base_patch16_224")
RING_SIZES = (2, 8, 64)


def write_digit_folder(root: Path, images: int) -> None:
    """``root/train/<class>/*.png`` (``images`` digits) and ``root/val/<class>/*.png`` (a tenth as many)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.images * (255 / 16)).astype(np.uint8)
    for split, count, start in (("train", images, 0), ("val", max(10, images // 10), images)):
        for i in range(count):
            j = (start + i) % len(pixels)
            folder = root / split / str(digits.target[j])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[j]).convert("RGB").save(folder / f"{i:05d}.png")


def run_ranks(ranks: int, data: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One ``effl finetune`` under ``torchrun``; its last epoch's seconds and images a rank."""
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        raise SystemExit("scaling: torchrun is not on PATH")
    command = [torchrun, f"--nproc_per_node={ranks}", "-m", "effl_plugins.cli", "finetune", "--data", str(data)]
    command += ["--model", args.model, "--img-size", str(args.img_size), "-b", str(args.batch_size)]
    command += ["--epochs", str(args.epochs), "-j", "1", "--device", "cpu", "--log-interval", "0"]
    command += ["--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"scaling: {ranks} rank(s) failed:\n{done.stderr[-3000:]}")
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    images_per_rank = last["train_samples"] / ranks
    return {"seconds": last["seconds"], "images_per_rank": images_per_rank}


def gradient_bytes(model: str) -> int:
    """Bytes of a model's trainable float32 gradients: what DDP all-reduces each step."""
    import timm
    import torch

    with torch.device("meta"):
        net = timm.create_model(model, pretrained=False)
    return 4 * sum(p.numel() for p in net.parameters() if p.requires_grad)


def traffic() -> list[dict[str, Any]]:
    """Per counted model: its gradient bytes and a ring all-reduce's bytes sent per rank at each size."""
    rows = []
    for model in COUNTED_MODELS:
        size = gradient_bytes(model)
        sent = {str(n): round(2 * (n - 1) / n * size) for n in RING_SIZES}
        rows.append({"model": model, "gradient_bytes": size, "ring_bytes_sent_per_rank": sent})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("-b", "--batch-size", type=int, default=32, help="images a rank a step")
    parser.add_argument("--images", type=int, default=1024, help="training images in the folder")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repeats; the fastest counts")
    parser.add_argument("--out", default="effl-scaling-bench")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    best: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "digits"
        write_digit_folder(data, args.images)
        for round_ in range(args.rounds):
            for ranks in (1, 2):
                run = run_ranks(ranks, data, Path(folder) / f"run-{ranks}-{round_}", args)
                if ranks not in best or run["seconds"] < best[ranks]["seconds"]:
                    best[ranks] = run
    per_rank = {r: best[r]["images_per_rank"] / best[r]["seconds"] for r in best}
    result = {
        "setup": {k: getattr(args, k) for k in ("model", "img_size", "batch_size", "images", "epochs", "rounds")},
        "threads_per_rank": 1,
        "images_per_second_per_rank": {str(r): round(v, 1) for r, v in per_rank.items()},
        "scaling_efficiency_2_ranks": round(per_rank[2] / per_rank[1], 3),
        "gradient_bytes_this_model": gradient_bytes(args.model),
        "traffic": traffic(),
    }
    publish_json_report(out / "scaling.json", result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

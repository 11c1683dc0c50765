"""Peak memory of streaming a train split: ``count`` generated JPEGs through build_data + create_loader.

    python benchmarks/data_memory.py [--count 10000] [--size 224] [--workers 2] [--batch 64] [--dir DIR]

Writes ``count`` JPEGs of ``size x size`` into a temporary ImageFolder (or ``--dir``, kept for reuse),
iterates one epoch of the train loader (random-resized-crop + flip, uint8 batches) and prints, as
JSON, the peak resident memory of the main process and of each worker (``VmHWM``) next to the size
the split would take decoded in memory (``count * size * size * 3`` bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _kib(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def write_jpegs(root: Path, count: int, size: int, classes: int = 10) -> None:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    for i in range(count):
        path = root / "train" / f"c{i % classes}" / f"{i:05d}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        ok, data = cv2.imencode(".jpg", cv2.resize(small, (size, size)), [cv2.IMWRITE_JPEG_QUALITY, 90])
        path.write_bytes(data.tobytes())
    (root / "val" / "c0").mkdir(parents=True, exist_ok=True)  # build_data wants a val split
    (root / "val" / "c0" / "0.jpg").write_bytes((root / "train" / "c0" / "00000.jpg").read_bytes())


def measure(root: Path, count: int, size: int, workers: int, batch: int) -> dict:
    import timm.data  # noqa: F401 (imported before the baseline: the eval transform needs it)
    import torch

    from effl_plugins.data import build_data, create_loader, resolve_data_config

    cfg = resolve_data_config(img_size=size)
    before = _kib("self", "VmRSS")
    clock = time.perf_counter()
    bundle = build_data(str(root), cfg)
    listed_s = time.perf_counter() - clock
    after_listing = _kib("self", "VmRSS")
    loader = create_loader(bundle.labeled, batch, shuffle=True, workers=workers)
    worker_peak: dict[int, int] = {}
    seen, clock = 0, time.perf_counter()
    it = iter(loader)
    for images, _ in it:
        seen += images.shape[0]
        for proc in getattr(it, "_workers", []):
            try:
                worker_peak[proc.pid] = max(worker_peak.get(proc.pid, 0), _kib(proc.pid, "VmHWM"))
            except (FileNotFoundError, ProcessLookupError):
                pass
        del images
    epoch_s = time.perf_counter() - clock
    decoded = len(bundle.labeled) * size * size * 3
    mib = 1 / 1024
    return {
        "images": seen,
        "size": size,
        "workers": workers,
        "batch": batch,
        "torch": torch.__version__,
        "decoded_mib": decoded / 2**20,
        "main_rss_before_mib": before * mib,
        "main_rss_after_listing_mib": after_listing * mib,
        "main_peak_mib": _kib("self", "VmHWM") * mib,
        "worker_peak_mib": sorted(v * mib for v in worker_peak.values()),
        "listing_s": listed_s,
        "epoch_s": epoch_s,
        "images_per_s": seen / epoch_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dir", help="image folder to create or reuse (default: a temporary one)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="effl-data-memory-") as tmp:
        root = Path(args.dir or tmp)
        clock = time.perf_counter()
        write_jpegs(root, args.count, args.size)
        print(f"images ready in {time.perf_counter() - clock:.1f} s", file=sys.stderr)
        print(json.dumps(measure(root, args.count, args.size, args.workers, args.batch), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time example_gaussian_noise against the built-in brightness on the batch backend (images per second).

    python registry/effl-plugins-example/scripts/time_noise.py [--batch 32] [--size 64] [--threads 1]
    python registry/effl-plugins-example/scripts/time_noise.py --baseline OLD_NOISE.py   # and an older version

Each op: the best of ``--repeats`` medians of ``--runs`` timed calls (after warm-up, ops interleaved,
so that load from other processes hurts every op alike), on uint8 ``[batch, 3, size, size]`` CPU input,
each call with a seeded ``torch.Generator`` as a training loop passes one. ``--baseline`` times the
``GaussianNoise`` class of another file too (e.g. ``git show REV:registry/.../noise.py > old.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import torch

import effl_plugins as ep


def median_seconds(aug, images: torch.Tensor, runs: int) -> float:
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        aug(images, generator=generator)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        aug(images, generator=generator)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_baseline(path: str):
    spec = importlib.util.spec_from_file_location("noise_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GaussianNoise()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", metavar="FILE", help="a noise.py whose GaussianNoise is timed as well")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
    ops = {
        "example_gaussian_noise": ep.create_augmentation("example_gaussian_noise"),
        "brightness": ep.create_augmentation("brightness"),
    }
    if args.baseline:
        ops = {f"baseline ({args.baseline})": load_baseline(args.baseline), **ops}
    best = dict.fromkeys(ops, float("inf"))
    for _ in range(args.repeats):
        for name, aug in ops.items():
            best[name] = min(best[name], median_seconds(aug, images, args.runs))
    print(f"uint8 {args.batch} x 3 x {args.size} x {args.size}, {args.threads} thread(s), CPU")
    for name, seconds in best.items():
        print(f"  {name:40s} {args.batch / seconds:>12,.0f} img/s")


if __name__ == "__main__":
    main()

"""Time example_gaussian_noise against the built-in brightness on the batch backend (images per second).

    python registry/effl-plugins-example/scripts/time_noise.py [--batch 32] [--size 64] [--threads 2]

Median of ``--runs`` timed calls after warm-up, on uint8 ``[batch, 3, size, size]`` CPU input,
each call with a seeded ``torch.Generator`` as a training loop passes one.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import effl_plugins as ep


def images_per_second(aug, images: torch.Tensor, runs: int) -> float:
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        aug(images, generator=generator)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        aug(images, generator=generator)
        times.append(time.perf_counter() - start)
    return len(images) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
    for name in ("example_gaussian_noise", "brightness"):
        rate = images_per_second(ep.create_augmentation(name), images, args.runs)
        print(f"{name:24s} {rate:>12,.0f} img/s  (uint8, {args.batch} x 3 x {args.size} x {args.size}, "
              f"{args.threads} threads)")


if __name__ == "__main__":
    main()

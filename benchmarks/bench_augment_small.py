"""The batch augmentations on the small calls self-training runs make (1, 8 and 56 images of 32 px,
16 of 64 px; uint8 and float32), against kornia and the torchvision per-image loop, with each op's fixed
cost per call (the intercept of time against batch size).

    python benchmarks/bench_augment_small.py --small [--out DIR] [--ops NAME ...] [--row-seconds S] [--threads T]
    python benchmarks/bench_augment_small.py --paths [--calls N]
    python benchmarks/bench_augment_small.py --fixmatch

The code of ``--small`` lives in ``effl_plugins.bench.augment`` (``SMALL_CASES``, bench name ``augment-small``).
``--paths`` times batch RandAugment N=2 M=9 on the same cases, one thread, CPU time of the calling thread, calls
interleaved in rounds of one call each, in a random order per round (median of ``N`` calls each): as dispatched,
forced onto the whole-batch path the small sizes took before the sample-by-sample path (uint8: the table chain;
float: the computed warp), kornia and the torchvision per-image loop; then the intercept and slope of time against
batch size at 32 px. ``--fixmatch``: the
share of a FixMatch step on the digits spent in augmentation (:func:`fixmatch_share`).
"""

import sys

#: ``--paths``: (batch, size, dtype)
PATH_CASES = (
    (1, 32, "uint8"),
    (8, 32, "uint8"),
    (56, 32, "uint8"),
    (16, 64, "uint8"),
    (1, 32, "float32"),
    (8, 32, "float32"),
    (56, 32, "float32"),
)


def _whole_batch_path(aug, enabled: bool):
    """A call of ``aug`` with the sample-by-sample and gathered-warp paths off (``enabled=False``) or as shipped."""
    from effl_plugins.augment.auto import rand_augment

    shipped = (rand_augment._PER_SAMPLE_BATCH, rand_augment._GATHERED)

    def call(images, generator):
        if not enabled:
            rand_augment._PER_SAMPLE_BATCH, rand_augment._GATHERED = 0, ()
        try:
            return aug(images, generator=generator)
        finally:
            rand_augment._PER_SAMPLE_BATCH, rand_augment._GATHERED = shipped

    return call


def time_paths(calls: int = 101) -> list[dict]:
    """Medians (seconds) per case and implementation of batch RandAugment N=2 M=9, interleaved; see the module."""
    import random
    import statistics
    import time

    import torch

    import effl_plugins as ep
    from effl_plugins.bench import peers
    from effl_plugins.bench.augment import sample_photos

    torch.set_num_threads(1)
    rows = []
    for batch, size, dtype in PATH_CASES:
        photos = torch.from_numpy(sample_photos(batch * 4, size)).permute(0, 3, 1, 2).contiguous()
        inputs = list(photos.split(batch))
        floats = [x.float().div_(255) for x in inputs]
        ours = inputs if dtype == "uint8" else floats
        aug = ep.create_augmentation("rand_augment", num_ops=2, magnitude=9)
        generator = torch.Generator().manual_seed(0)
        loop = peers.TORCHVISION["rand_augment"](size, size)
        impls = {
            "effl": (_whole_batch_path(aug, True), ours, True),
            "effl whole-batch path": (_whole_batch_path(aug, False), ours, True),
            "kornia": (peers.KORNIA["rand_augment"](size, size), floats, False),
            "torchvision v2 per-image loop": (lambda x, _g, t=loop: torch.stack([t(img) for img in x]), inputs, True),
        }
        times: dict[str, list[int]] = {name: [] for name in impls}
        names, order = list(impls), random.Random(batch * size)
        for run in range(calls + 20):
            order.shuffle(names)  # no impl always runs after the same one (the loop's pass evicts the caches)
            for name in names:
                fn, batches, seeded = impls[name]
                x = batches[run % len(batches)]
                start = time.thread_time_ns()
                fn(x, generator) if seeded else fn(x)
                if run >= 20:
                    times[name].append(time.thread_time_ns() - start)
        for name, values in times.items():
            median = statistics.median(values) / 1e9
            rows.append({"batch": batch, "size": size, "dtype": dtype, "impl": name, "median_s": median})
    return rows


def paths_markdown(rows: list[dict]) -> list[str]:
    """The ``--paths`` table and, per dtype and implementation, the intercept and slope over the 32 px batches."""
    by_case: dict[tuple, dict[str, float]] = {}
    for row in rows:
        by_case.setdefault((row["batch"], row["size"], row["dtype"]), {})[row["impl"]] = row["median_s"]
    lines = [
        "| call | effl | effl whole-batch path | kornia | tv loop | vs whole-batch | vs kornia | vs tv loop |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (batch, size, dtype), t in by_case.items():
        ours = t["effl"]
        lines.append(
            f"| {dtype} {batch}x3x{size}x{size} | {1e3 * ours:.2f} ms | {1e3 * t['effl whole-batch path']:.2f} ms "
            f"| {1e3 * t['kornia']:.2f} ms | {1e3 * t['torchvision v2 per-image loop']:.2f} ms "
            f"| {t['effl whole-batch path'] / ours:.2f}x | {t['kornia'] / ours:.2f}x "
            f"| {t['torchvision v2 per-image loop'] / ours:.2f}x |"
        )
    lines += ["", "| dtype | impl | fixed cost (intercept) | per image (slope) |", "|---|---|---:|---:|"]
    impls = sorted({row["impl"] for row in rows})
    for dtype in ("uint8", "float32"):
        for impl in impls:
            points = sorted((b, t[impl]) for (b, s, d), t in by_case.items() if s == 32 and d == dtype)
            if len(points) < 2:
                continue
            xs, ys = zip(*points)
            mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
            slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x in xs)
            lines.append(f"| {dtype} | {impl} | {1e3 * (mean_y - slope * mean_x):.3f} ms | {1e6 * slope:.1f} us |")
    return lines


def fixmatch_share(steps: int = 31) -> list[str]:
    """A FixMatch step on the digits (8 labelled + 56 unlabelled images at 32 px, test_resnet, weak views, the strong
    view ``rand_augment(num_ops=2, magnitude=10)``, forward, backward, SGD step), one thread, CPU time of the calling
    thread, median of ``steps`` steps; RandAugment as dispatched and on the whole-batch path, interleaved. Lines of
    the time of the step and the share of it spent in augmentation."""
    import statistics
    import time

    import cv2
    import numpy as np
    import timm
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    import effl_plugins as ep
    from effl_plugins.train.tasks.consistency import weak_augment

    torch.set_num_threads(1)
    digits = load_digits()
    small = [(image * 255 / 16).astype(np.uint8) for image in digits.images]
    images = np.stack([cv2.resize(image, (32, 32), interpolation=cv2.INTER_LINEAR) for image in small])
    x = torch.from_numpy(images).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    y = torch.from_numpy(digits.target)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9)
    strong = ep.create_augmentation("rand_augment", num_ops=2, magnitude=10)
    paths = {"as dispatched": _whole_batch_path(strong, True), "whole-batch path": _whole_batch_path(strong, False)}
    generator, rng = torch.Generator().manual_seed(0), np.random.default_rng(0)

    def step(view) -> tuple[float, float, float]:
        index = torch.from_numpy(rng.choice(len(x), 64, replace=False))
        start = time.thread_time_ns()
        weak_l, weak_u = weak_augment(x[index[:8]], generator), weak_augment(x[index[8:]], generator)
        weak_done = time.thread_time_ns()
        strong_u, _ = view(weak_u, generator)
        strong_done = time.thread_time_ns()
        logits_l, logits_w, logits_s = model(torch.cat([weak_l, weak_u, strong_u]).float().div_(255)).split([8, 56, 56])
        confidence, pseudo = logits_w.detach().softmax(1).max(1)
        unlabeled = F.cross_entropy(logits_s, pseudo, reduction="none") * (confidence > 0.95)
        loss = F.cross_entropy(logits_l, y[index[:8]]) + unlabeled.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        end = time.thread_time_ns()
        return (weak_done - start) / 1e6, (strong_done - weak_done) / 1e6, (end - start) / 1e6

    times: dict[str, list] = {name: [] for name in paths}
    for run in range(steps + 10):
        for name, view in paths.items():
            measured = step(view)
            if run >= 10:
                times[name].append(measured)
    lines = []
    for name, values in times.items():
        weak, strong_ms, total = (statistics.median(column) for column in zip(*values))
        share = 100 * (weak + strong_ms) / total
        lines.append(
            f"RandAugment {name}: step {total:.1f} ms, weak views {weak:.2f} ms, strong view {strong_ms:.2f} ms, "
            f"augmentation {weak + strong_ms:.2f} ms = {share:.1f} % of the step"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """The batch ops on the small cases alone; writes ``DIR/augment-small-<device>-torch<version>.json`` and
    ``DIR/RESULTS.md`` (``--paths``: prints the RandAugment path comparison instead)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python benchmarks/bench_augment_small.py", description=main.__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--small", action="store_true", help="the small cases (SMALL_CASES)")
    mode.add_argument("--paths", action="store_true", help="RandAugment's paths, interleaved (PATH_CASES)")
    mode.add_argument("--fixmatch", action="store_true", help="the augmentation share of a FixMatch step")
    parser.add_argument("--calls", type=int, default=101, metavar="N")
    parser.add_argument("--out", default="effl-bench", metavar="DIR")
    parser.add_argument("--ops", nargs="+", metavar="NAME")
    parser.add_argument("--row-seconds", type=float, metavar="S")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.paths:
        print("\n".join(paths_markdown(time_paths(args.calls))))
        return 0
    if args.fixmatch:
        print("\n".join(fixmatch_share()))
        return 0
    from effl_plugins.bench.run import run_and_report

    options = {"ops": args.ops} if args.ops else {}
    run_and_report(
        "augment-small", args.out, device=args.device, threads=args.threads, row_seconds=args.row_seconds, **options
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

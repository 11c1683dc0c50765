"""What a teacher cache saves: the student's training time per step alone, distilled from a live teacher,
and distilled from the teacher's stored outputs (``Distill.record_cache``), measured side by side in one
process on one thread; and the bytes a view costs on disk.

Cases: ``digits`` (the distillation benchmark's pair: ``test_resnet`` from ``resnet10t``, 32 px, batches
of 32), ``imagenet`` (``resnet18`` from ``resnet50`` at 224 px, batches of 16) and ``imagenet-r101`` (from
``resnet101``: a teacher whose forward costs more than the student's whole step). Teachers are
random-initialised checkpoints: speed does not depend on their weights. Each run is one epoch of the
engine over ``steps`` batches of the digits (upsampled to the case's size); the time per step is the
epoch's training time (``metrics.jsonl``'s ``seconds``, evaluation excluded) over its steps, the fastest
of ``rounds`` interleaved repeats.

    python -m effl_plugins.bench.teacher_cache [--cases digits imagenet ...] [--steps 8] [--rounds 2] [--out DIR]

Writes ``DIR/teacher-cache.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from .results import publish_json_report

#: Images in ImageNet-1k's train split.
IMAGENET_TRAIN = 1_281_167
CASES = {
    "digits": {"student": "test_resnet", "teacher": "resnet10t", "size": 32, "batch": 32},
    "imagenet": {"student": "resnet18", "teacher": "resnet50", "size": 224, "batch": 16},
    "imagenet-r101": {"student": "resnet18", "teacher": "resnet101", "size": 224, "batch": 16},
}


def _data(size: int, images: int, with_unlabeled: bool):
    """``images`` digits at ``size`` px: all labeled (the student alone) or half labeled, half not."""
    from ..testing import small_digits

    labeled = images if not with_unlabeled else images // 2
    data = small_digits(labeled=labeled, test=16, unlabeled=max(images - labeled, 1), image_size=size)
    if not with_unlabeled:
        data.unlabeled = None
    return data


def _seconds_per_step(summary_dir: Path, steps: int) -> float:
    record = json.loads((summary_dir / "metrics.jsonl").read_text().splitlines()[0])
    return record["seconds"] / steps


def run_case(name: str, steps: int, work: Path, rounds: int = 2) -> dict[str, Any]:
    """One case: seconds per step alone, live, from the cache; the ratios; bytes per view."""
    import timm
    import torch

    from .._api import create_strategy

    case = CASES[name]
    images = steps * case["batch"]
    common = {"epochs": 1, "batch_size": case["batch"], "seed": 0, "device": "cpu", "progress": False, "workers": 0}
    alone_data, distill_data = _data(case["size"], images, False), _data(case["size"], images, True)
    teacher_file = work / f"{name}-teacher.pt"
    torch.manual_seed(0)
    weights = timm.create_model(case["teacher"], num_classes=10).state_dict()
    # the teacher's checkpoint records the data it was trained on, as an effl run's does: it reads the batch as is
    torch.save({"model": weights, "data_config": distill_data.data_config.to_dict()}, teacher_file)
    teacher = f"{case['teacher']}:{teacher_file}"
    recorder = create_strategy("distill", model=case["student"], teacher=teacher, **common)
    written = recorder.record_cache(distill_data, work / f"{name}-cache", top_k=None)
    runs = {
        "alone": (alone_data, {"backbone_lr": 3e-3}, "finetune"),
        "live": (distill_data, {"teacher": teacher}, "distill"),
        "cached": (distill_data, {"teacher_cache": str(work / f"{name}-cache")}, "distill"),
    }
    times: dict[str, float] = {}
    for round_index in range(rounds):  # interleaved; the fastest round of each (the least disturbed)
        for method, (data, extra, strategy) in runs.items():
            out = work / f"{name}-{method}-{round_index}"
            create_strategy(strategy, model=case["student"], **extra, **common).run(data, out_dir=out)
            times[method] = min(times.get(method, math.inf), _seconds_per_step(out, steps))
    return {
        "case": name,
        **case,
        "steps": steps,
        "rounds": rounds,
        "seconds_per_step": {k: round(v, 4) for k, v in times.items()},
        "cached_vs_alone": round(times["cached"] / times["alone"], 3),
        "live_vs_cached": round(times["live"] / times["cached"], 3),
        "bytes_per_view_all_10_classes": round(written["shard_bytes"] / written["views"], 1),
    }


def bytes_per_view(num_classes: int = 1000, top_k: int = 10, views: int = 4096, precision: str = "float32") -> float:
    """Bytes a view takes in a shard at ``top_k`` of ``num_classes`` (probabilities and class ids at
    ``precision``: float32 + int64, or float16 + int16; an int64 position and the view's id string), measured
    by writing one shard of ``views`` views."""
    import torch

    from ..strategies.selftrain.store import StoreSpec, write_shard

    spec = StoreSpec("0" * 64, views * 100, num_classes, top_k=top_k, precision=precision)
    probs = torch.softmax(torch.randn(views, num_classes), 1)
    ids = [f"{99}:{5004 + i // 256}:{7}:{i % 256}:{1281166 - i}" for i in range(views)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shard.safetensors"
        write_shard(path, range(views), ids, probs, spec)
        return path.stat().st_size / views


def sizes() -> dict[str, Any]:
    """Bytes a view at top-10 of 1000 classes at each precision, and what ImageNet-1k x 100 epochs (one view
    an image an epoch) then takes."""
    result = {}
    for precision in ("float32", "float16"):
        per_view = bytes_per_view(precision=precision)
        result[f"bytes_per_view_top10_of_1000_{precision}"] = round(per_view, 1)
        result[f"imagenet_1k_100_epochs_gb_{precision}"] = round(per_view * IMAGENET_TRAIN * 100 / 1e9, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=sorted(CASES))
    parser.add_argument("--steps", type=int, default=8, help="batches an epoch (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repeats; the fastest counts (default 2)")
    parser.add_argument("--out", default="effl-teacher-cache-bench", help="output folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        rows = [run_case(name, args.steps, Path(folder), args.rounds) for name in args.cases]
    result = {"threads": 1, "rows": rows, **sizes()}
    publish_json_report(out / "teacher-cache.json", result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

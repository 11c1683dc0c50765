"""Profiles behind RESULTS.md's explanations of missed targets: torch.profiler for the batch
backend and the KD loss, cProfile for the image backend (NumPy/OpenCV, one thread).

    python benchmarks/profile_targets.py [OUT_FILE]
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
from pathlib import Path

__all__ = ["profile_targets"]


def _torch_table(fn, calls: int, rows: int = 12) -> str:
    from torch.profiler import profile

    fn()
    with profile() as prof:
        for _ in range(calls):
            fn()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def _cprofile_table(fn, calls: int, rows: int = 14) -> str:
    fn()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(rows)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())


def profile_targets(
    out_file: str | Path,
    image_ops: tuple[str, ...] = (
        "rand_augment",
        "brightness",
        "contrast",
        "color",
        "sharpness",
        "auto_contrast",
        "crop",
        "solarize",
    ),
    peer_ops: tuple[str, ...] = ("contrast", "color", "sharpness"),
) -> Path:
    """Profile the rows behind the targets: KD (ours and eager), the batch RandAugment and affine, each of
    ``image_ops`` on the image backend, and albumentations on ``peer_ops`` (where its time goes)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import cv2
    import numpy as np
    import torch

    import effl_plugins as ep

    from ..losses.functional import kd_divergence_reference
    from ..losses.fused_kd import kd_divergence_cpu
    from . import peers
    from .augment import create_op, sample_photos

    torch.set_num_threads(2)
    sections = []
    s, t = torch.randn(1024, 1000, requires_grad=True), torch.randn(1024, 1000)
    for name, fn in (("eager reference", kd_divergence_reference), ("effl fused", kd_divergence_cpu)):

        def step(fn=fn):
            s.grad = None
            fn(s, t, 4.0).backward()

        sections.append(
            (f"KD fwd+bwd B=1024 C=1000 float32, {name}, 10 calls (torch.profiler)", _torch_table(step, 10))
        )
    photos = torch.from_numpy(sample_photos(64, 224)).permute(0, 3, 1, 2).contiguous()
    names = set(ep.list_augmentations(backend="batch"))
    for op in ("rand_augment", "affine"):
        if op in names:
            aug = create_op(op, "batch", 224)
            sections.append(
                (
                    f"batch {op}, 64x3x224x224 uint8, 2 calls (torch.profiler)",
                    _torch_table(lambda aug=aug: aug(photos), 2),
                )
            )
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    images = list(sample_photos(32, 224, seed=1))
    image_names = set(ep.list_augmentations(backend="image"))
    for op in image_ops:
        if op in image_names:
            transform = create_op(op, "image", 224)
            rng = np.random.default_rng(0)
            sections.append(
                (
                    f"image backend {op}, 32 images 224 px, one thread, 3 passes (cProfile, by own time)",
                    _cprofile_table(lambda tr=transform, rng=rng: [tr(img, rng) for img in images], 3),
                )
            )
            if op in peer_ops and op in peers.ALBUMENTATIONS:
                album = peers.ALBUMENTATIONS[op](224, 224)
                sections.append(
                    (
                        f"albumentations {op} ({type(album).__name__}), the same images, one thread, "
                        "3 passes (cProfile, by own time)",
                        _cprofile_table(lambda a=album: [a(image=img)["image"] for img in images], 3),
                    )
                )
    text = "\n\n".join(f"## {title}\n\n```\n{body}\n```" for title, body in sections)
    path = Path(out_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return path

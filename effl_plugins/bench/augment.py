"""Augmentation benchmark: every built-in op on both backends, and the RandAugment pipeline, against
torchvision v2 (batch call: per-batch; per-image loop: per-sample), kornia (per-sample, float),
albumentations (per image) and timm's PIL RandAugment (per image).

Cases: the product batch {32, 128, 256} x size {224, 64} x {uint8, float32} (``--quick``: batch 32
at 64 px and batch 64 at 224 px, uint8), plus the target case, RandAugment N=2 M=9 on 64 x 3 x 224 x 224 uint8,
plus the small calls of training on small images (:data:`SMALL_CASES`: batch 1, 8 and 56 of 32 px, uint8 and
float32, and 16 of 64 px uint8), whose per-call fixed cost ``report`` gives as the intercept of time against batch
size. ``python benchmarks/bench_augment_small.py --small --out DIR`` runs the small cases alone (bench
``augment-small``).
The image backend runs one thread, one 224 px image at a time, as a DataLoader worker does.
Bytes that must move: the batch read once and written once (``2 B C H W`` elements; kornia's rows
count float32 elements, since kornia has no uint8 path).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from . import peers
from .recorder import Recorder
from .timing import cache_bytes, rotation_count

__all__ = [
    "AUGMENTATION_KWARGS",
    "TARGET_CASE",
    "SMALL_CASES",
    "augment_cases",
    "sample_photos",
    "run_augment_bench",
    "run_small_augment_bench",
]

AUGMENTATION_KWARGS: dict[str, dict[str, Any]] = {
    "cutmix": {"num_classes": 10},
    "mixup": {"num_classes": 10},
    "rand_augment": {"num_ops": 2, "magnitude": 9},
    # every peer's brightness draws one value for all channels; ours draws one per channel by default
    "brightness": {"per_channel": False},
    # a chain of point ops: on uint8 one table and one pass over the pixels
    "compose": {"ops": ["brightness", "solarize", "posterize", "invert"]},
}
FULL_PRODUCT = {"batch": (32, 128, 256), "size": (224, 64), "dtype": ("uint8", "float32")}
#: the quick run: a small batch, and the target case's batch of photos for every op
QUICK_CASES = ({"batch": 32, "size": 64, "dtype": "uint8"}, {"batch": 64, "size": 224, "dtype": "uint8"})
TARGET_CASE = {"batch": 64, "size": 224, "dtype": "uint8"}
#: the calls of a FixMatch step on 32 px images (8 labelled, 56 unlabelled) and a single image, both dtypes, and a
#: 16 x 64 px batch: the batch sizes at 32 px give each op's per-call fixed cost (intercept against batch size)
SMALL_CASES = (
    *({"batch": batch, "size": 32, "dtype": dtype} for dtype in ("uint8", "float32") for batch in (1, 8, 56)),
    {"batch": 16, "size": 64, "dtype": "uint8"},
)
#: Arguments that depend on the image size: ``crop`` does the peers' work (pad by size // 8, cut a
#: box of the input size, no resize; its default would resize a 7/8 box back to the input size).
SIZED_KWARGS: dict[str, Callable[[int], dict[str, Any]]] = {"crop": lambda size: {"size": size, "padding": size // 8}}
NO_LOOP = frozenset({"cutmix", "mixup"})  # batch-level ops: no per-image loop
HALF_P = frozenset({"flip", "hflip", "vflip"})  # flips run at p=0.5 on every side; other ops at p=1 like their peers


def op_kwargs(op: str, cls: type, size: int | None = None) -> dict[str, Any]:
    """Arguments for our op: the bench's own (and those for this image ``size``), plus ``p=1`` (every
    sample transformed, as the peers are set up)."""
    import inspect

    kwargs = dict(AUGMENTATION_KWARGS.get(op, {}))
    if size is not None and op in SIZED_KWARGS:
        kwargs.update(SIZED_KWARGS[op](size))
    if op not in HALF_P and "p" in inspect.signature(cls).parameters:
        kwargs["p"] = 1.0
    return kwargs


def create_op(op: str, backend: str, size: int | None = None):
    import effl_plugins as ep

    return ep.create_augmentation(op, backend=backend, **op_kwargs(op, component_class(op, backend), size))


def component_class(op: str, backend: str) -> type:
    import effl_plugins as ep

    return type(ep.create_augmentation(op, backend=backend, **AUGMENTATION_KWARGS.get(op, {})))


def augment_cases(quick: bool) -> list[dict[str, Any]]:
    """``--quick``: :data:`QUICK_CASES`; the full run: the :data:`FULL_PRODUCT` and the :data:`SMALL_CASES`."""
    if quick:
        return [dict(c) for c in QUICK_CASES]
    keys = list(FULL_PRODUCT)
    product = [dict(zip(keys, values)) for values in itertools.product(*FULL_PRODUCT.values())]
    return product + [dict(c) for c in SMALL_CASES]


def sample_photos(count: int, size: int, seed: int = 0) -> np.ndarray:
    """``count`` real-photo crops (scikit-learn's sample images), ``[count, size, size, 3]`` uint8."""
    import cv2
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    out = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(min(photo.shape[:2]) // 2, min(photo.shape[:2])))
        y, x = (int(rng.integers(0, photo.shape[d] - side + 1)) for d in (0, 1))
        out[i] = cv2.resize(
            np.ascontiguousarray(photo[y : y + side, x : x + side]), (size, size), interpolation=cv2.INTER_AREA
        )
    return out


def builtin_ops(backend: str) -> list[str]:
    import effl_plugins as ep

    return [
        n
        for n in ep.list_augmentations(backend=backend)
        if ep.component_info("augmentations", n)["distribution"] == "effl-plugins"
    ]


def registered_ops(ops: Iterable[str], backend: str) -> list[str]:
    """The names of ``ops`` registered for ``backend`` (any distribution, plugins included), in the given order."""
    import effl_plugins as ep

    available = set(ep.list_augmentations(backend=backend))
    return [op for op in ops if op in available]


def _batches(case: dict[str, Any], device: torch.device) -> list[torch.Tensor]:
    batch, size = case["batch"], case["size"]
    element = 1 if case["dtype"] == "uint8" else 4
    count = rotation_count(2 * batch * 3 * size * size * element, cache_bytes(device), most=4)
    photos = torch.from_numpy(sample_photos(batch * count, size)).permute(0, 3, 1, 2).contiguous()
    out = []
    for chunk in photos.split(batch):
        x = chunk.to(device)
        out.append(x if case["dtype"] == "uint8" else x.float().div_(255))
    return out


def _loop(transform):
    return lambda x, *rest: torch.stack([transform(img) for img in x])


def peer(
    recorder: Recorder,
    op: str,
    library: str,
    case: dict[str, Any],
    table: dict[str, peers.Factory],
    size: int,
    device: torch.device | None = None,
):
    """``library``'s counterpart of ``op`` for ``size`` x ``size`` images from its ``table`` of the
    :mod:`~effl_plugins.bench.peers` (moved to ``device`` when given); None when it has none, or after a
    skip when it cannot be built."""
    if op not in table:
        return None

    def make():
        made = table[op](size, size)
        return made if device is None else made.to(device)

    return recorder.build(op, library, case, make)


def run_batch_rows(recorder: Recorder, case: dict[str, Any], ops: Iterable[str]) -> None:
    device = recorder.device
    batches = _batches(case, device)
    floats = [x if x.is_floating_point() else x.float().div_(255) for x in batches]
    targets = torch.arange(case["batch"], device=device) % 10
    items, element = case["batch"], batches[0].element_size()
    moved = 2 * batches[0].numel() * element
    size = case["size"]
    for op in ops:
        y = (targets,) if op in NO_LOOP else ()
        aug = recorder.build(op, "effl", case, lambda op=op: create_op(op, "batch", size).to(device))
        if aug is None:
            continue
        generator = torch.Generator(device=device).manual_seed(0)
        common = dict(op=op, mode="batch", case=case, items=items)
        specs = [
            dict(
                common,
                impl="effl",
                semantics="per-sample",
                nbytes=moved,
                fn=lambda x, *t, aug=aug, generator=generator: aug(x, *t, generator=generator),
                inputs=[(x, *y) for x in batches],
            )
        ]
        tv = peer(recorder, op, "torchvision v2", case, peers.TORCHVISION, size) if op not in NO_LOOP else None
        if tv is not None:
            tv_row = dict(common, nbytes=moved, inputs=[(x,) for x in batches], note=type(tv).__name__)
            specs.append(dict(tv_row, impl="torchvision v2 batch call", semantics="per-batch", fn=tv))
            specs.append(dict(tv_row, impl="torchvision v2 per-image loop", semantics="per-sample", fn=_loop(tv)))
        kornia_aug = peer(recorder, op, "kornia", case, peers.KORNIA, size, device)
        if kornia_aug is not None:
            specs.append(
                dict(
                    common,
                    impl="kornia",
                    semantics="per-sample",
                    nbytes=2 * floats[0].numel() * 4,
                    fn=kornia_aug,
                    inputs=[(x,) for x in floats],
                    note=f"{type(kornia_aug).__name__} on float32 (no uint8 path)",
                )
            )
        recorder.measure_group(specs)


def run_image_rows(recorder: Recorder, ops: Iterable[str], *, images: int, size: int = 224) -> None:
    """One thread, one image at a time: ours (OpenCV/NumPy) against albumentations and timm (PIL)."""
    import cv2
    from PIL import Image

    case = {"images": images, "size": size, "dtype": "uint8", "threads": 1}
    per_call = images * size * size * 3
    count = rotation_count(2 * per_call, cache_bytes("cpu"))
    photos = sample_photos(images * count, size, seed=1)
    calls = [(list(photos[i * images : (i + 1) * images]),) for i in range(count)]
    pil_calls = [([Image.fromarray(img) for img in imgs],) for (imgs,) in calls]
    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        for op in ops:
            transform = recorder.build(op, "effl image", case, lambda op=op: create_op(op, "image", size))
            if transform is None:
                continue
            rng = np.random.default_rng(0)
            common = dict(op=op, semantics="per-image", mode="image", case=case, items=images, nbytes=2 * per_call)
            specs = [
                dict(
                    common,
                    impl="effl image",
                    fn=lambda imgs, t=transform, rng=rng: [t(img, rng) for img in imgs],
                    inputs=calls,
                )
            ]
            album = peer(recorder, op, "albumentations", case, peers.ALBUMENTATIONS, size)
            if album is not None:
                specs.append(
                    dict(
                        common,
                        impl="albumentations",
                        fn=lambda imgs, a=album: [a(image=img)["image"] for img in imgs],
                        inputs=calls,
                        note=type(album).__name__,
                    )
                )
            if op == "rand_augment":
                timm_ra = peers.timm_rand_augment(9, 2)
                specs.append(
                    dict(
                        common,
                        impl="timm PIL rand-m9-n2",
                        fn=lambda imgs, tr=timm_ra: [tr(img) for img in imgs],
                        inputs=pil_calls,
                        note="timm.data.auto_augment.rand_augment_transform on PIL images",
                    )
                )
            recorder.measure_group(specs)
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)


def run_augment_bench(
    recorder: Recorder,
    *,
    quick: bool,
    cases: list[dict] | None = None,
    ops: Iterable[str] | None = None,
    image_images: int | None = None,
    target_case: bool = True,
    image_rows: bool = True,
) -> None:
    """``ops``: any registered augmentations (default: the built-ins); each gets the rows of every backend it is
    registered for (``image_rows=False``: the batch backend only)."""
    batch_ops = registered_ops(ops, "batch") if ops is not None else builtin_ops("batch")
    image_ops = registered_ops(ops, "image") if ops is not None else builtin_ops("image")
    cases = cases if cases is not None else augment_cases(quick)
    for case in cases:
        run_batch_rows(recorder, case, batch_ops)
    if target_case and "rand_augment" in batch_ops and TARGET_CASE not in cases:
        run_batch_rows(recorder, dict(TARGET_CASE), ["rand_augment"])
    if recorder.device.type == "cpu" and image_ops and image_rows:
        run_image_rows(recorder, image_ops, images=image_images or (16 if quick else 64))


def run_small_augment_bench(recorder: Recorder, *, quick: bool, ops: Iterable[str] | None = None) -> None:
    """Bench ``augment-small``: the batch ops on :data:`SMALL_CASES` only."""
    run_augment_bench(
        recorder, quick=quick, cases=[dict(c) for c in SMALL_CASES], ops=ops, target_case=False, image_rows=False
    )

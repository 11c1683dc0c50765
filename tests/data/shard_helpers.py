"""WebDataset shards of the digits on disk, for the streaming tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from effl_plugins.data.digits import digits_split


def digit_images(count: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` digits (uint8 ``[count, 32, 32, 3]``) and their classes, from image ``offset`` on."""
    split = digits_split()
    index = np.arange(offset, offset + count)
    return split.images[index], split.targets[index]


def write_shards(
    folder: Path, prefix: str, sizes: list[int], *, offset: int = 0, labeled: bool = True, suffix: str = "png"
) -> list[str]:
    """Shards ``folder/PREFIX-0000.tar ...`` holding ``sizes[i]`` digits each (``KEY.png`` + ``KEY.cls``);
    returns the keys in order. Keys are ``PREFIX/NNNNN`` (unique across prefixes)."""
    import webdataset

    folder.mkdir(parents=True, exist_ok=True)
    images, targets = digit_images(sum(sizes), offset)
    keys, start = [], 0
    for number, size in enumerate(sizes):
        with webdataset.TarWriter(str(folder / f"{prefix}-{number:04d}.tar")) as sink:
            for i in range(start, start + size):
                ok, data = cv2.imencode(f".{suffix}", cv2.cvtColor(images[i], cv2.COLOR_RGB2BGR))
                assert ok
                sample = {"__key__": f"{prefix}/{offset + i:05d}", suffix: data.tobytes()}
                if labeled:
                    sample["cls"] = int(targets[i])
                sink.write(sample)
                keys.append(sample["__key__"])
        start += size
    return keys


def hf_digits(count: int, offset: int = 0, *, labeled: bool = True, ids: bool = False):
    """A ``datasets.Dataset`` of ``count`` digits as PNG bytes (an ``Image`` feature), with a ``ClassLabel``
    ``label`` column when ``labeled`` and an ``id`` column (``"d-NNNNN"``) when ``ids``."""
    import datasets

    images, targets = digit_images(count, offset)
    encoded = [{"bytes": cv2.imencode(".png", cv2.cvtColor(im, cv2.COLOR_RGB2BGR))[1].tobytes()} for im in images]
    columns: dict = {"image": encoded}
    features: dict = {"image": datasets.Image()}
    if labeled:
        columns["label"] = targets.tolist()
        features["label"] = datasets.ClassLabel(names=[f"digit{c}" for c in range(10)])
    if ids:
        columns["id"] = [f"d-{offset + i:05d}" for i in range(count)]
        features["id"] = datasets.Value("string")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))

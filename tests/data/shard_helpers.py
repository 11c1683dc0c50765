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

"""Small image trees on disk for the data tests."""

from __future__ import annotations

import struct
import tarfile
import zlib
from pathlib import Path

import cv2
import numpy as np
from sklearn.datasets import load_sample_image


def random_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random RGB image (compresses like a photo, not like noise)."""
    small = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def write_image(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(data.tobytes())


def image_folder(
    root: Path, classes=("cat", "dog"), per_class=(3, 2), splits=("train", "val"), size=(30, 40), suffix=".png", seed=0
) -> dict[str, np.ndarray]:
    """``root/<split>/<class>/<i><suffix>``; returns {relative path: the RGB array written}."""
    rng = np.random.default_rng(seed)
    written = {}
    for split in splits:
        for cls, n in zip(classes, per_class):
            for i in range(n):
                img = random_image(rng, *size)
                write_image(root / split / cls / f"{i}{suffix}", img)
                written[f"{split}/{cls}/{i}{suffix}"] = img
    return written


def photo_folder(root: Path) -> dict[str, np.ndarray]:
    """Non-square real photos as lossless PNGs: train/val splits of two classes."""
    china, flower = load_sample_image("china.jpg"), load_sample_image("flower.jpg")
    photos = {
        "train/china/a.png": china[:300, :420],
        "train/china/b.png": china[100:, 200:],
        "train/flower/a.png": flower[:, 150:420],
        "train/flower/b.png": flower[50:380, :500],
        "val/china/c.png": china[40:350, 60:600],
        "val/flower/c.png": flower[10:420, 300:560],
    }
    for rel, img in photos.items():
        write_image(root / rel, np.ascontiguousarray(img))
    return photos


def tar_splits(folder: Path, out: Path) -> None:
    """``out/train.tar`` and ``out/val.tar`` holding ``<class>/<file>`` from ``folder/train`` and ``folder/val``."""
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        with tarfile.open(out / f"{split}.tar", "w") as tar:
            for path in sorted((folder / split).rglob("*.png")):
                tar.add(path, arcname=path.relative_to(folder / split).as_posix())


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header declares ``width x height`` but that holds almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )

"""The eager loaders: every image decoded into one uint8 tensor up front, at a square size.

Kept for callers written before the streaming datasets (:func:`build_data`); new code builds a
:class:`DataBundle` with :func:`build_data`, which decodes in the DataLoader workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .bundle import DataBundle, _check_class_count
from .datasets import UNLABELED
from .decode import DEFAULT_MAX_IMAGE_PIXELS, IMAGE_EXTENSIONS, ImageDecodeError, read_image_file
from .digits import digits_split

__all__ = [
    "TensorImageDataset",
    "load_digits",
    "load_image_folder",
    "load_data",
    "read_image",
    "load_unlabeled_folder",
]


class TensorImageDataset(Dataset):
    """Images held in memory as one uint8 tensor ``[N, C, H, W]`` with int targets ``[N]``."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor | None = None, ids: Sequence[str] | None = None):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 tensor [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        n = images.shape[0]
        self.images = images
        self.targets = torch.full((n,), UNLABELED, dtype=torch.long) if targets is None else targets.long()
        if self.targets.shape != (n,):
            raise ValueError(f"targets must have shape [{n}], got {tuple(self.targets.shape)}")
        self.ids = list(ids) if ids is not None else [f"{i:06d}" for i in range(n)]
        if len(self.ids) != n:
            raise ValueError(f"ids must have {n} entries, got {len(self.ids)}")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.targets[index])

    def subset(self, indices: Sequence[int] | torch.Tensor) -> TensorImageDataset:
        index = torch.as_tensor(indices, dtype=torch.long)
        return TensorImageDataset(self.images[index], self.targets[index], [self.ids[i] for i in index.tolist()])


def load_digits(num_labeled: int = 100, image_size: int = 32, num_test: int = 360, split_seed: int = 0) -> DataBundle:
    """scikit-learn's 1,797 real 8x8 handwritten digits, upsampled to ``image_size`` and made RGB.

    A fixed, class-stratified split (``split_seed``): ``num_test`` test images, ``num_labeled``
    labeled ones (equal per class as far as possible), the rest unlabeled.
    """
    split = digits_split(num_labeled, num_test, split_seed, size=image_size)
    images = torch.from_numpy(split.images).permute(0, 3, 1, 2).contiguous()
    targets = torch.from_numpy(split.targets)
    full = TensorImageDataset(images, targets, split.ids(np.arange(len(targets))))
    unlabeled = full.subset(split.unlabeled)
    hidden = unlabeled.targets.clone()
    unlabeled.targets.fill_(UNLABELED)
    return DataBundle(
        name="digits",
        labeled=full.subset(split.labeled),
        test=full.subset(split.test),
        unlabeled=unlabeled,
        num_classes=10,
        image_size=image_size,
        hidden_targets=hidden,
        class_names=[str(c) for c in range(10)],
    )


def read_image(
    path: str | os.PathLike, image_size: int | None = None, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Read one image as ``H x W x 3`` uint8 RGB (resized to a square ``image_size`` if given).

    Raises ``ImageDecodeError`` (a ``ValueError``) naming the file if it is not a regular file, its
    header declares more than ``max_image_pixels`` pixels (checked before decoding) or OpenCV cannot
    decode it.
    """
    import cv2

    img = read_image_file(path, max_image_pixels)
    if image_size is not None and img.shape[:2] != (image_size, image_size):
        img = cv2.resize(img, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return img


def _load_folder(
    paths: list[Path], root: Path, image_size: int
) -> tuple[torch.Tensor, list[str], list[tuple[str, str]]]:
    images, ids, skipped = [], [], []
    for path in paths:
        try:
            img = read_image(path, image_size)
        except ImageDecodeError as exc:
            skipped.append((str(path), exc.reason or str(exc)))
            continue
        except (ValueError, OSError) as exc:
            skipped.append((str(path), str(exc)))
            continue
        images.append(torch.from_numpy(img).permute(2, 0, 1))
        ids.append(path.relative_to(root).as_posix())
    stacked = torch.stack(images) if images else torch.empty(0, 3, image_size, image_size, dtype=torch.uint8)
    return stacked, ids, skipped


def _image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def load_image_folder(
    root: str | os.PathLike, image_size: int = 32, split: str = "train", classes: Sequence[str] | None = None
) -> TensorImageDataset:
    """A torchvision-style ImageFolder split ``root/split/<class>/<image>``, decoded with OpenCV.

    Unreadable files are skipped and listed in ``dataset.skipped``; ``dataset.classes`` names the classes.
    """
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(
            f"ImageFolder split not found: {str(folder)!r} (expected {str(root)!r}/{split}/<class>/<images>)"
        )
    classes = list(classes) if classes is not None else sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"no class folders under {str(folder)!r}")
    paths = [p for c in classes for p in _image_files(folder / c)]
    images, ids, skipped = _load_folder(paths, folder, image_size)
    lookup = {c: i for i, c in enumerate(classes)}
    targets = torch.tensor([lookup[i.split("/")[0]] for i in ids], dtype=torch.long)
    dataset = TensorImageDataset(images, targets, ids)
    dataset.classes, dataset.skipped = classes, skipped
    return dataset


def load_unlabeled_folder(root: str | os.PathLike, image_size: int = 32) -> TensorImageDataset:
    """Every image under ``root`` (recursively); unreadable files are skipped into ``dataset.skipped``."""
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"unlabeled image folder not found: {str(folder)!r}")
    images, ids, skipped = _load_folder(_image_files(folder), folder, image_size)
    dataset = TensorImageDataset(images, None, ids)
    dataset.skipped = skipped
    return dataset


def load_data(spec: str, image_size: int = 32, unlabeled: str | None = None, num_labeled: int = 100) -> DataBundle:
    """``"digits"`` for the embedded default, or an ImageFolder root with ``train/`` and ``val/``."""
    if spec == "digits":
        bundle = load_digits(num_labeled=num_labeled, image_size=image_size)
    else:
        root = Path(spec)
        if not root.is_dir():
            raise FileNotFoundError(
                f"--data must be 'digits' or an ImageFolder root with train/ and val/, got {spec!r} (not a directory)"
            )
        train = load_image_folder(root, image_size, "train")
        _check_class_count(root / "train", train.classes)
        test = load_image_folder(root, image_size, "val", classes=train.classes)
        bundle = DataBundle(str(root), train, test, len(train.classes), image_size, class_names=train.classes)
    if unlabeled is not None:
        bundle.unlabeled = (
            bundle.unlabeled
            if unlabeled == "digits" and spec == "digits"
            else load_unlabeled_folder(unlabeled, image_size)
        )
        if unlabeled != "digits":
            bundle.hidden_targets = None
    return bundle

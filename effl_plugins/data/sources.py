"""Where images come from: listing folders (robustly) and tar files, and reading one image.

A listing finds images once (names, targets, what it skipped and why: symlink loops, dangling symlinks,
unreadable directories and files, headers over ``max_image_pixels``), decoding nothing. A source reads one
image on demand, ``source.load(i) -> H x W x 3 uint8 RGB``, and holds only names and small arrays, so it
pickles cheaply into DataLoader workers.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .decode import (
    DEFAULT_MAX_IMAGE_PIXELS,
    IMAGE_EXTENSIONS,
    DataWarning,
    ImageDecodeError,
    check_header,
    decode_checked,
)

__all__ = ["Listing", "ArraySource", "FileSource", "TarSource", "walk_images", "list_image_folder", "list_images"]

Skipped = list[tuple[str, str]]


class ArraySource:
    """Images already in memory: a uint8 array ``[N, H, W, 3]``."""

    def __init__(self, images: np.ndarray):
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise ValueError(f"images must be a uint8 array [N, H, W, 3], got {images.dtype} {images.shape}")
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> np.ndarray:
        return self.images[index]

    def subset(self, indices: Sequence[int]) -> ArraySource:
        return ArraySource(self.images[np.asarray(indices, dtype=np.int64)])


class FileSource:
    """Image files ``root/<relpath>``, read and decoded with OpenCV on each :meth:`load`, each header
    checked against ``max_image_pixels`` again first (the file may have changed since it was listed)."""

    def __init__(
        self,
        root: str | os.PathLike,
        relpaths: Sequence[str],
        max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    ):
        self.root, self.relpaths = str(root), list(relpaths)
        self.max_image_pixels = max_image_pixels

    def __len__(self) -> int:
        return len(self.relpaths)

    def path(self, index: int) -> str:
        return os.path.join(self.root, self.relpaths[index])

    def load(self, index: int) -> np.ndarray:
        path = self.path(index)
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            raise ImageDecodeError(path, f"{type(exc).__name__}: {exc}") from None
        return decode_checked(data, path, self.max_image_pixels)

    def subset(self, indices: Sequence[int]) -> FileSource:
        return FileSource(self.root, [self.relpaths[i] for i in indices], self.max_image_pixels)


class TarSource:
    """Members of a tar file as timm's ``ReaderImageInTar`` lists them, the tar opened on each read."""

    def __init__(
        self,
        reader,
        indices: Sequence[int] | None = None,
        max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    ):
        reader.cache_tarfiles = False
        self.reader = reader
        self.indices = list(range(len(reader))) if indices is None else list(indices)
        self.max_image_pixels = max_image_pixels

    def __len__(self) -> int:
        return len(self.indices)

    def path(self, index: int) -> str:
        return f"{self.reader.root}:{self.reader.filename(self.indices[index])}"

    def load(self, index: int) -> np.ndarray:
        try:
            fileobj, _ = self.reader[self.indices[index]]
            data = fileobj.read()
        except (OSError, EOFError) as exc:
            raise ImageDecodeError(self.path(index), f"{type(exc).__name__}: {exc}") from None
        return decode_checked(data, self.path(index), self.max_image_pixels)

    def subset(self, indices: Sequence[int]) -> TarSource:
        return TarSource(self.reader, [self.indices[i] for i in indices], self.max_image_pixels)


@dataclass
class Listing:
    """What a listing found: image paths relative to ``root`` with their targets, and what it skipped."""

    root: str
    relpaths: list[str]
    targets: list[int]
    classes: list[str] | None = None
    skipped: Skipped = field(default_factory=list)


def walk_images(root: str | os.PathLike, skipped: Skipped) -> list[str]:
    """Every image file under ``root`` (recursively, following symlinks), as relative POSIX paths in natural order.

    Appends ``(path, reason)`` to ``skipped`` for each symlink loop, dangling symlink, unreadable
    directory or unreadable file met on the way.
    """
    root = str(root)
    found: list[str] = []
    start = os.stat(root)
    stack = [(root, frozenset({(start.st_dev, start.st_ino)}))]
    while stack:
        directory, ancestors = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            skipped.append((directory, f"unreadable directory ({type(exc).__name__}: {exc.strerror or exc})"))
            continue
        for entry in entries:
            try:
                info = os.stat(entry.path)
            except OSError as exc:
                loop = exc.errno == errno.ELOOP
                reason = "symlink loop" if loop else "dangling symlink" if entry.is_symlink() else None
                skipped.append((entry.path, reason or f"cannot stat ({exc.strerror or exc})"))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in ancestors:
                    skipped.append((entry.path, "symlink loop (points to a directory above it)"))
                else:
                    stack.append((entry.path, ancestors | {key}))
            elif stat.S_ISREG(info.st_mode) and entry.name.lower().endswith(IMAGE_EXTENSIONS):
                if os.access(entry.path, os.R_OK):
                    found.append(os.path.relpath(entry.path, root).replace(os.sep, "/"))
                else:
                    skipped.append((entry.path, "unreadable file (permission denied)"))
    return sorted(found, key=natural_key)


def natural_key(text: str) -> list:
    """Sort key that orders digit runs by value (``"9" < "10"``), as timm orders files and classes."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.lower())]


def _check_headers(root: str, relpaths: list[str], max_image_pixels: int | None, skipped: Skipped) -> list[str]:
    """The files whose header is readable and within ``max_image_pixels`` (None: all); reasons into ``skipped``."""
    if max_image_pixels is None:
        return relpaths
    kept = []
    for rel in relpaths:
        path = os.path.join(root, rel)
        try:
            check_header(path, path, max_image_pixels)
            kept.append(rel)
        except ImageDecodeError as exc:
            skipped.append((path, exc.reason))
    return kept


def list_images(root: str | os.PathLike, *, max_image_pixels: int | None = None, what: str = "folder") -> Listing:
    """Every image under ``root``, targets ``-1`` (unlabeled). An empty result is a ``ValueError``."""
    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} not found or not a directory: {str(folder)!r}")
    skipped: Skipped = []
    relpaths = _check_headers(str(folder), walk_images(folder, skipped), max_image_pixels, skipped)
    if not relpaths:
        suffixes = " ".join(IMAGE_EXTENSIONS)
        raise ValueError(f"{what} {str(folder)!r} holds no usable images (suffixes {suffixes}){_skip_note(skipped)}")
    return Listing(str(folder), relpaths, [-1] * len(relpaths), None, skipped)


def list_image_folder(
    split_dir: str | os.PathLike, classes: Sequence[str] | None = None, *, max_image_pixels: int | None = None
) -> Listing:
    """An ImageFolder split ``split_dir/<class>/**/<image>``: the class is the top-level folder.

    Classes and files are in natural order (``"img9" < "img10"``), as timm's folder reader orders them.

    ``classes`` (the train split's, for a val split) fixes the class ids; a class folder that is not
    among them is a ``ValueError`` naming it. A class folder without images is a :class:`DataWarning`;
    a split without images a ``ValueError``. Images directly in ``split_dir`` are skipped (no class).
    """
    folder = Path(split_dir)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"ImageFolder split not found: {str(folder)!r} (expected <root>/<split>/<class>/<images>)"
        )
    skipped: Skipped = []
    relpaths = walk_images(folder, skipped)
    found = sorted({r.split("/", 1)[0] for r in relpaths if "/" in r} | _class_dirs(folder), key=natural_key)
    if classes is None:
        classes = found
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise ValueError(
            f"split {str(folder)!r} has class folders the train split lacks: {unknown} (train classes: {list(classes)})"
        )
    skipped += [(str(folder / r), "not inside a class folder") for r in relpaths if "/" not in r]
    relpaths = _check_headers(str(folder), [r for r in relpaths if "/" in r], max_image_pixels, skipped)
    if not relpaths:
        raise ValueError(f"split {str(folder)!r} holds no usable images in class folders{_skip_note(skipped)}")
    lookup = {c: i for i, c in enumerate(classes)}
    targets = [lookup[r.split("/", 1)[0]] for r in relpaths]
    counts = np.bincount(targets, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0 and (folder / c).is_dir()]
    if empty:
        warnings.warn(f"class folders without images in {str(folder)!r}: {empty}", DataWarning, stacklevel=3)
    return Listing(str(folder), relpaths, targets, list(classes), skipped)


def _class_dirs(folder: Path) -> set[str]:
    """Names of the sub-folders of ``folder`` (an unreadable one is already in the walk's ``skipped``)."""
    try:
        with os.scandir(folder) as it:
            return {entry.name for entry in it if os.path.isdir(entry.path)}
    except OSError:
        return set()


def _skip_note(skipped: Skipped) -> str:
    if not skipped:
        return ""
    shown = "; ".join(f"{p}: {r}" for p, r in skipped[:3])
    return f"; skipped {len(skipped)}: {shown}" + (" ..." if len(skipped) > 3 else "")

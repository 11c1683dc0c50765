"""WebDataset tar shards as a source: ``--data wds/ROOT --train-split 'train-{0000..0007}.tar'``.

A shard is an uncompressed tar whose members group into samples by key, as WebDataset groups them
(``dir/0001.png`` and ``dir/0001.cls`` are sample ``dir/0001``): one image member (any of
:data:`IMAGE_EXTENSIONS`) and, in a labeled split, a ``.cls`` member (the class id as text). The key is the
sample's id everywhere; a key twice in one split is refused. Listing reads each shard's tar headers once
(:mod:`.tar_index`); a sample's image is then one seek and one read in its shard, so every sample has a
stable index (why timm's iterable ``reader_wds`` is not used: see the README).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .decode import DEFAULT_MAX_IMAGE_PIXELS, IMAGE_EXTENSIONS, ImageDecodeError, decode_checked
from .extras import require_extra
from .tar_index import TarFormatError, tar_members

__all__ = ["ShardListing", "ShardSource", "expand_shards", "list_shards"]

#: The member holding a sample's class id (WebDataset's convention).
LABEL_EXTENSION = "cls"

_IMAGE_EXTS = tuple(e.lstrip(".") for e in IMAGE_EXTENSIONS)


@dataclass
class ShardListing:
    """The samples of a list of shards: per sample its key, shard number, image offset and size, label
    (``-1`` where the shard holds none)."""

    shards: list[str]
    keys: list[str] = field(default_factory=list)
    shard_of: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


def expand_shards(root: str, pattern: str, flag: str) -> list[str]:
    """The shard paths ``pattern`` names under ``root``: brace ranges (``train-{0000..0007}.tar``) expand
    to names that must all exist; a name with ``*``/``?``/``[`` globs and must match at least one file.

    Raises:
        FileNotFoundError: a named shard is missing, or a glob matches nothing (one line naming ``flag``).
    """
    braceexpand = require_extra("braceexpand", "webdataset")
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError(f"{flag} must name tar shards (e.g. 'train-{{0000..0007}}.tar'), got {pattern!r}")
    paths: list[str] = []
    for name in braceexpand.braceexpand(pattern):
        path = os.path.join(root, name)
        if any(c in name for c in "*?["):
            found = sorted(p for p in glob.glob(path) if os.path.isfile(p))
            if not found:
                raise FileNotFoundError(f"{flag} {pattern!r} matches no shard under {root!r}")
            paths += found
        elif not os.path.isfile(path):
            raise FileNotFoundError(f"{flag} {pattern!r}: shard {path!r} is missing")
        else:
            paths.append(path)
    return list(dict.fromkeys(paths))


def list_shards(paths: Sequence[str], *, labeled: bool, what: str) -> ShardListing:
    """Every sample of the shards ``paths``, in shard order and tar order within a shard.

    ``labeled``: every sample must carry a ``.cls`` member. ``what`` names the split in errors.

    Raises:
        ValueError: a compressed or unreadable shard, a sample without an image or (labeled) without
            a label, a label that is not a non-negative int, a key twice, no samples at all.
    """
    base_plus_ext = require_extra("webdataset.tariterators", "webdataset").base_plus_ext
    listing = ShardListing(list(paths))
    seen: dict[str, str] = {}
    for number, path in enumerate(listing.shards):
        for key, image, label in _shard_samples(path, base_plus_ext):
            if image is None:
                raise ValueError(f"{what} shard {path!r}: sample {key!r} has no image member ({' '.join(_IMAGE_EXTS)})")
            if label is None and labeled:
                raise ValueError(f"{what} shard {path!r}: sample {key!r} has no .cls label (a labeled split needs one)")
            if key in seen:
                raise ValueError(f"{what} shard {path!r}: sample key {key!r} is also in {seen[key]!r}")
            seen[key] = path
            listing.keys.append(key)
            listing.shard_of.append(number)
            listing.offsets.append(image[0])
            listing.sizes.append(image[1])
            listing.labels.append(-1 if label is None else label)
    if not listing.keys:
        raise ValueError(f"{what} shards {listing.shards[:3]} hold no samples")
    return listing


def _shard_samples(path: str, base_plus_ext):
    """``(key, (offset, size) | None, label | None)`` per sample of the shard at ``path``, in tar order."""
    samples: dict[str, list] = {}
    try:
        with open(path, "rb") as handle:
            for name, offset, size in tar_members(handle):
                key, ext = base_plus_ext(name)
                if key is None or os.path.basename(key).startswith("__"):
                    continue
                entry = samples.setdefault(key, [None, None])
                ext = ext.lower()
                if ext in _IMAGE_EXTS and entry[0] is None:
                    entry[0] = (offset, size)
                elif ext == LABEL_EXTENSION:
                    handle.seek(offset)
                    entry[1] = _label(handle.read(size), path, key)
    except TarFormatError as exc:
        raise ValueError(f"shard {path!r} is not an uncompressed tar ({exc})") from None
    except OSError as exc:
        raise ValueError(f"shard {path!r} cannot be read ({type(exc).__name__}: {exc})") from None
    return [(key, image, label) for key, (image, label) in samples.items()]


def _label(data: bytes, path: str, key: str) -> int:
    text = data.decode("utf-8", "replace").strip()
    if not text.isdigit():
        raise ValueError(f"shard {path!r}: sample {key!r} has .cls {text[:20]!r}; a class id is a non-negative int")
    return int(text)


class ShardSource:
    """The images of a :class:`ShardListing`: ``load(i)`` reads sample ``i``'s image bytes from its shard
    (nothing kept open) and decodes them after the header check against ``max_image_pixels``."""

    #: The engine deals a sharded split to ranks without padding (every sample once per epoch).
    exactly_once = True

    def __init__(
        self,
        shards: Sequence[str],
        shard_of: Sequence[int],
        offsets: Sequence[int],
        sizes: Sequence[int],
        keys: Sequence[str],
        max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    ):
        self.shards = list(shards)
        self.shard_of = np.asarray(shard_of, dtype=np.int32)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.keys = list(keys)
        self.max_image_pixels = max_image_pixels

    @classmethod
    def from_listing(cls, listing: ShardListing, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS):
        """The source of every sample ``listing`` holds."""
        return cls(listing.shards, listing.shard_of, listing.offsets, listing.sizes, listing.keys, max_image_pixels)

    def __len__(self) -> int:
        return len(self.keys)

    def path(self, index: int) -> str:
        """``SHARD:KEY`` of sample ``index`` (what errors name)."""
        return f"{self.shards[int(self.shard_of[index])]}:{self.keys[index]}"

    def load(self, index: int) -> np.ndarray:
        shard, size = self.shards[int(self.shard_of[index])], int(self.sizes[index])
        try:
            with open(shard, "rb") as handle:
                handle.seek(int(self.offsets[index]))
                data = handle.read(size)
        except OSError as exc:
            raise ImageDecodeError(self.path(index), f"{type(exc).__name__}: {exc}") from None
        if len(data) != size:
            raise ImageDecodeError(self.path(index), f"shard truncated: read {len(data)} of {size} bytes")
        return decode_checked(data, self.path(index), self.max_image_pixels)

    def subset(self, indices: Sequence[int]) -> ShardSource:
        index = np.asarray(indices, dtype=np.int64)
        keys = [self.keys[i] for i in index.tolist()]
        picked = (self.shard_of[index], self.offsets[index], self.sizes[index])
        return ShardSource(self.shards, *picked, keys, self.max_image_pixels)

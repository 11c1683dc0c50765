"""The splits of ``--data wds/ROOT``: WebDataset shards under ``ROOT`` named by timm's ``--train-split``
and ``--val-split`` (shard patterns, ``'train-{0000..0007}.tar'``; default ``train*.tar`` and
``val*.tar``), and ``--unlabeled wds/PATH`` (every ``*.tar`` directly in a folder, or a pattern).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .datasets import UNLABELED, StreamImageDataset, pair_splits
from .shards import ShardSource, expand_shards, list_shards
from .sources import natural_key

__all__ = ["WDS_PREFIX", "wds_splits", "wds_unlabeled"]

#: The ``--data`` / ``--unlabeled`` prefix of WebDataset shards (timm's spelling).
WDS_PREFIX = "wds/"

_DEFAULT_TRAIN, _DEFAULT_VAL = "train*.tar", "val*.tar"


def wds_splits(
    root: str,
    train_split: str | None,
    val_split: str | None,
    train_t: Callable,
    eval_t: Callable,
    *,
    seed: int,
    max_image_pixels: int | None,
) -> tuple[StreamImageDataset, StreamImageDataset]:
    """The labeled train split (``train_t``) and val split (``eval_t``) of the shards under ``root``.

    Raises:
        FileNotFoundError: ``root`` is not a folder, a shard is missing, a pattern matches nothing.
        ValueError: a sample without an image or a ``.cls`` label, a val class id the train split lacks.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--data wds/{root}: {root!r} is not a directory (the folder of the tar shards)")
    train_paths = expand_shards(root, train_split or _DEFAULT_TRAIN, "--train-split")
    val_paths = expand_shards(root, val_split or _DEFAULT_VAL, "--val-split")
    train = list_shards(train_paths, labeled=True, what="--train-split")
    val = list_shards(val_paths, labeled=True, what="--val-split")
    return pair_splits(
        _dataset(train, train_t, seed, max_image_pixels, train.labels),
        _dataset(val, eval_t, seed, max_image_pixels, val.labels),
        f"--val-split shards under {root!r} hold",
    )


def wds_unlabeled(
    path: str, transform: Callable, *, seed: int, max_image_pixels: int | None, flag: str = "--unlabeled"
) -> StreamImageDataset:
    """Every sample of the shards ``path`` names (a folder: its ``*.tar`` files; else a shard pattern),
    targets :data:`UNLABELED` (``.cls`` members, where present, are not read as labels)."""
    if os.path.isdir(path):
        paths = expand_shards(path, "*.tar", f"{flag} {WDS_PREFIX}{path}")
        paths.sort(key=natural_key)
    else:
        paths = expand_shards("", path, flag)
    listing = list_shards(paths, labeled=False, what=flag)
    return _dataset(listing, transform, seed, max_image_pixels, [UNLABELED] * len(listing.keys))


def _dataset(listing, transform, seed, max_image_pixels, targets) -> StreamImageDataset:
    source = ShardSource.from_listing(listing, max_image_pixels)
    return StreamImageDataset(source, targets, listing.keys, transform, seed=seed)

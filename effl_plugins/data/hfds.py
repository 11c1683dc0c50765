"""A local Hugging Face dataset as a source: ``--data hfds/PATH`` and ``--unlabeled hfds/PATH``.

``PATH`` is what ``Dataset.save_to_disk`` wrote, or a folder of parquet files or of class-subfolder images
(the ``parquet`` / ``imagefolder`` builders, which name splits by file and folder names); nothing is
fetched from the Hub. ``--unlabeled`` reads the ``train`` split (or the only one) and ignores its labels.
The image is the first ``Image`` feature (else a column of ``_IMAGE_COLUMNS``), read undecoded and decoded
in the workers; the label the first ``ClassLabel`` feature (its names are the class names, else a column
of ``_LABEL_COLUMNS``); a sample's id a column of ``_ID_COLUMNS``, else its row number. Rows are read by
index; the iterable form (``hfids/``) is refused: its rows have no index.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .datasets import UNLABELED, StreamImageDataset, pair_splits
from .decode import DEFAULT_MAX_IMAGE_PIXELS, ImageDecodeError, decode_checked
from .extras import require_extra

__all__ = ["HFDS_PREFIX", "HFIDS_PREFIX", "HfSource", "hf_splits", "hf_unlabeled", "load_hf"]

#: The ``--data`` / ``--unlabeled`` prefix of a local Hugging Face dataset (timm's spelling).
HFDS_PREFIX = "hfds/"
#: timm's prefix of an iterable Hugging Face dataset, refused here.
HFIDS_PREFIX = "hfids/"

_VAL_SPLITS = ("validation", "val", "valid", "test")
_IMAGE_COLUMNS = ("image", "img", "jpg", "png", "webp")
_LABEL_COLUMNS = ("label", "labels", "cls", "target")
_ID_COLUMNS = ("__key__", "id", "key", "image_id")


def load_hf(path: str, flag: str = "--data") -> dict[str, Any]:
    """The splits of the local dataset at ``path``: ``{split name: datasets.Dataset}``.

    Raises:
        FileNotFoundError: ``path`` is not a folder, or holds no dataset the loaders read.
    """
    datasets = require_extra("datasets", "hf")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{flag} {HFDS_PREFIX}{path}: {path!r} is not a directory (a saved or parquet dataset)")
    try:
        if any(os.path.isfile(os.path.join(path, f)) for f in ("dataset_dict.json", "state.json")):
            loaded = datasets.load_from_disk(path)
        else:
            parquet = any(name.endswith(".parquet") for _, _, files in os.walk(path) for name in files)
            loaded = datasets.load_dataset("parquet" if parquet else "imagefolder", data_dir=path)
    except (FileNotFoundError, ValueError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileNotFoundError(f"{flag} {HFDS_PREFIX}{path}: no dataset datasets can read ({message})") from None
    return dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}


def hf_splits(
    path: str,
    train_split: str | None,
    val_split: str | None,
    train_t: Callable,
    eval_t: Callable,
    *,
    seed: int,
    max_image_pixels: int | None,
) -> tuple[StreamImageDataset, StreamImageDataset]:
    """The labeled train split (``train_t``) and val split (``eval_t``) of the dataset at ``path``.

    Raises:
        FileNotFoundError: no such dataset or split (naming the splits there).
        ValueError: no image or label column, a row without a label, a val class the train split lacks.
    """
    splits = load_hf(path)
    train_name = _split(splits, (train_split,) if train_split else ("train",), "--train-split", path)
    val_name = _split(splits, (val_split,) if val_split else _VAL_SPLITS, "--val-split", path)
    train = _split_dataset(splits[train_name], f"{path}[{train_name}]", train_t, seed, max_image_pixels, True)
    test = _split_dataset(splits[val_name], f"{path}[{val_name}]", eval_t, seed, max_image_pixels, True)
    return pair_splits(train, test, f"--val-split {val_name!r} of {path!r} holds")


def hf_unlabeled(
    path: str, transform: Callable, *, seed: int, max_image_pixels: int | None, flag: str = "--unlabeled"
) -> StreamImageDataset:
    """The ``train`` split (or the only one) of the dataset at ``path``, targets :data:`UNLABELED`."""
    splits = load_hf(path, flag)
    name = "train" if "train" in splits or len(splits) != 1 else next(iter(splits))
    name = _split(splits, (name,), flag, path)
    return _split_dataset(splits[name], f"{path}[{name}]", transform, seed, max_image_pixels, False)


def _split(splits: dict[str, Any], names: Sequence[str], flag: str, path: str) -> str:
    for name in names:
        if name in splits:
            return name
    raise FileNotFoundError(f"{flag}: the dataset {path!r} has no split {' or '.join(names)} (it has {sorted(splits)})")


def _split_dataset(table, where: str, transform, seed: int, max_image_pixels, labeled: bool) -> StreamImageDataset:
    datasets = require_extra("datasets", "hf")
    features = table.features
    image = _column(features, datasets.Image, _IMAGE_COLUMNS)
    if image is None:
        raise ValueError(f"{where}: no image column (an Image feature, or one of {', '.join(_IMAGE_COLUMNS)})")
    ids = _ids(table, where)
    classes, targets = None, [UNLABELED] * len(table)
    if labeled:
        label = _column(features, datasets.ClassLabel, _LABEL_COLUMNS)
        if label is None:
            raise ValueError(f"{where}: no label column (a ClassLabel feature, or one of {', '.join(_LABEL_COLUMNS)})")
        targets = _labels(table[label], ids, where)
        if isinstance(features[label], datasets.ClassLabel):
            classes = list(features[label].names)
    source = HfSource(table, image, where, max_image_pixels)
    return StreamImageDataset(source, targets, ids, transform, seed=seed, classes=classes)


def _column(features, kind, names: Sequence[str]) -> str | None:
    typed = [name for name, feature in features.items() if isinstance(feature, kind)]
    named = [name for name in names if name in features]
    return (typed or named or [None])[0]


def _ids(table, where: str) -> list[str]:
    column = next((name for name in _ID_COLUMNS if name in table.features), None)
    if column is None:
        return [str(i) for i in range(len(table))]
    ids = [str(v) for v in table[column]]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: column {column!r} holds an id twice (ids key the samples; they must be unique)")
    return ids


def _labels(values: Sequence[Any], ids: Sequence[str], where: str) -> list[int]:
    labels = []
    for row, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{where}: row {row} (id {ids[row]!r}) has label {value!r}, not a class id")
        labels.append(int(value))
    return labels


class HfSource:
    """The images of one column of a ``datasets.Dataset``: ``load(i)`` reads row ``i``'s encoded image
    (its bytes, or the file its path names) and decodes it. The memory-mapped table pickles by reference."""

    #: The engine deals these rows to ranks without padding (every row once per epoch).
    exactly_once = True

    def __init__(self, table, column: str, where: str, max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS):
        datasets = require_extra("datasets", "hf")
        table = table.select_columns([column])
        if isinstance(table.features[column], datasets.Image):
            table = table.cast_column(column, datasets.Image(decode=False))
        self.table, self.column, self.where = table, column, where
        self.max_image_pixels = max_image_pixels

    def __len__(self) -> int:
        return len(self.table)

    def path(self, index: int) -> str:
        """``PATH[SPLIT]:ROW`` (what errors name)."""
        return f"{self.where}:{index}"

    def load(self, index: int) -> np.ndarray:
        value = self.table[int(index)][self.column]
        data = value.get("bytes") if isinstance(value, dict) else value
        if data is None and isinstance(value, dict) and value.get("path"):
            try:
                with open(value["path"], "rb") as handle:
                    data = handle.read()
            except OSError as exc:
                raise ImageDecodeError(self.path(index), f"{type(exc).__name__}: {exc}") from None
        if not isinstance(data, (bytes, bytearray)):
            raise ImageDecodeError(self.path(index), f"no encoded image in column {self.column!r}")
        return decode_checked(bytes(data), self.path(index), self.max_image_pixels)

    def subset(self, indices: Sequence[int]) -> HfSource:
        clone = HfSource.__new__(HfSource)
        clone.__dict__.update(self.__dict__)
        clone.table = self.table.select([int(i) for i in indices])
        return clone

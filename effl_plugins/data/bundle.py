"""What a task trains and evaluates on: :func:`build_data` from a data spec (the embedded digits, a
dataset root, shards or a Hugging Face dataset) and the model's :class:`DataConfig`. Every split streams:
images are read and decoded in ``__getitem__``, in the DataLoader workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .._validate import integer, is_number
from .config import DataConfig
from .datasets import UNLABELED, StreamImageDataset
from .decode import DEFAULT_MAX_IMAGE_PIXELS, verify_image
from .digits import digits_split
from .hfds import HFDS_PREFIX, HFIDS_PREFIX, hf_splits, hf_unlabeled
from .sources import ArraySource, FileSource, Listing, TarSource, _skip_note, list_image_folder, list_images
from .transforms import eval_transform, train_transform
from .wds import WDS_PREFIX, wds_splits, wds_unlabeled

__all__ = [
    "DataBundle",
    "HoldoutSplit",
    "build_data",
    "holdout_split",
    "unlabeled_folder",
    "stream_record",
    "SPLIT_RECORD",
]

#: The file a run directory records its held-out split in (:meth:`HoldoutSplit.record`).
SPLIT_RECORD = "split.json"

_TRAIN_SPLITS = ("train", "training")
_VAL_SPLITS = ("val", "validation", "valid", "eval", "evaluation")


@dataclass
class DataBundle:
    """What a strategy trains and evaluates on.

    ``labeled`` (train transform) and ``test`` (eval transform) carry class ids; ``unlabeled`` (train
    transform, may be None) carries ``-1`` targets, and ``unlabeled_eval`` holds the same images
    through the eval transform (for a teacher labelling them). ``hidden_targets`` keeps the truth of
    the unlabeled images where it is known, for reporting pseudo-label accuracy only.
    ``image_size`` is the input height; ``data_config`` the :class:`DataConfig` the splits follow.
    """

    name: str
    labeled: Dataset
    test: Dataset
    num_classes: int
    image_size: int
    unlabeled: Dataset | None = None
    hidden_targets: torch.Tensor | None = None
    class_names: list[str] | None = None
    unlabeled_eval: Dataset | None = None
    data_config: DataConfig | None = None
    split: HoldoutSplit | None = None


@dataclass(frozen=True)
class HoldoutSplit:
    """A validation share held out of a folder of class subfolders: per class, a seeded shuffle of
    its images (in natural order) puts ``round(fraction * n)`` of them (at least 1 and at most ``n - 1``
    when the class has 2 or more) in ``val``; the rest train.

    ``sha256`` digests the two file lists: the same folder, fraction and seed give the same digest,
    and a run, its resume and ``effl eval`` compare it to see the same split.
    """

    root: str
    fraction: float
    seed: int
    classes: list[str]
    train: list[str] = field(repr=False)
    val: list[str] = field(repr=False)

    @property
    def sha256(self) -> str:
        """The digest of the sorted train and val file lists."""
        body = json.dumps({"train": sorted(self.train), "val": sorted(self.val)}, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    def summary(self) -> dict[str, object]:
        """What a checkpoint's ``args`` records of the split (fraction, seed, counts, digest)."""
        return {
            "val_fraction": self.fraction,
            "seed": self.seed,
            "train_images": len(self.train),
            "val_images": len(self.val),
            "sha256": self.sha256,
        }

    def record(self) -> dict[str, object]:
        """The run directory's ``split.json``: :meth:`summary`, the folder, its classes and the held-out files."""
        return {"format": "effl-split-1", "data": self.root, **self.summary(), "classes": self.classes, "val": self.val}

    def check_against(self, recorded: Mapping[str, object], where: str) -> None:
        """Refuse (one-line ``ValueError``) when ``recorded`` (a :meth:`summary` or a record) is another split."""
        if recorded.get("sha256") == self.sha256:
            return
        theirs = f"val_fraction {recorded.get('val_fraction')}, seed {recorded.get('seed')}"
        counts = f"{recorded.get('train_images')} train / {recorded.get('val_images')} val images"
        raise ValueError(
            f"the held-out split of {self.root!r} by --val-fraction {self.fraction} (seed {self.seed}) is not the one "
            f"{where} ({theirs}, {counts}; now {len(self.train)} / {len(self.val)}): the folder's files or the "
            "fraction or seed changed; restore them, or start a new run"
        )


def holdout_split(listing: Listing, fraction: float, seed: int) -> HoldoutSplit:
    """Hold out a stratified, seeded ``fraction`` of ``listing`` (a labeled ImageFolder listing); see
    :class:`HoldoutSplit`. Each class shuffles with its own generator (seeded by ``seed`` and the class
    name), so a change to one class's files leaves the other classes' split as it was."""
    check_val_fraction(fraction)
    integer(seed, "seed", low=0)
    classes = list(listing.classes or [])
    by_class: dict[int, list[str]] = {}
    for rel, target in zip(listing.relpaths, listing.targets):
        by_class.setdefault(int(target), []).append(rel)
    train: list[str] = []
    val: list[str] = []
    for target, files in sorted(by_class.items()):
        rng = np.random.default_rng([seed, zlib.crc32(classes[target].encode())])
        order = [files[i] for i in rng.permutation(len(files))]
        held = min(max(round(fraction * len(files)), 1), len(files) - 1) if len(files) > 1 else 0
        val += order[:held]
        train += order[held:]
    keep = set(val)
    return HoldoutSplit(
        listing.root,
        float(fraction),
        int(seed),
        classes,
        [r for r in listing.relpaths if r not in keep],
        [r for r in listing.relpaths if r in keep],
    )


def check_val_fraction(value: object) -> float:
    """``--val-fraction``: a number in (0, 1); ``ValueError`` naming the value otherwise."""
    if not is_number(value) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"--val-fraction must be a number in (0, 1) (the share of each class held out), got {value!r}")
    return float(value)


def build_data(
    spec: str,
    cfg: DataConfig,
    *,
    unlabeled: str | None = None,
    num_labeled: int = 100,
    scale: Sequence[float] = (0.08, 1.0),
    ratio: Sequence[float] = (3 / 4, 4 / 3),
    hflip: float = 0.5,
    image_aug: Callable | None = None,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    seed: int = 0,
    labeled_seed: int | None = None,
    val_fraction: float | None = None,
    train_split: str | None = None,
    val_split: str | None = None,
) -> DataBundle:
    """The labeled, test and unlabeled splits of ``spec``, streamed through ``cfg``'s transforms.

    Args:
        spec: ``"digits"`` (the embedded default: ``num_labeled`` labeled, 360 test, the rest
            unlabeled with ``hidden_targets``), or a dataset root: a folder holding ``train/`` and
            ``val/`` (or ``validation/``) ImageFolder splits, or ``train.tar`` and ``val.tar``.
        cfg: the model's data config (:func:`resolve_data_config`).
        unlabeled: a folder of unlabeled images (every image under it), ``"digits"`` (the digits'
            own unlabeled split, also the default for ``spec="digits"``) or None.
        scale, ratio, hflip, image_aug: the train transform (:func:`train_transform`).
        max_image_pixels: images whose header declares more pixels are skipped (listed in the
            dataset's ``skipped``) before any decode; None reads no header while listing.
        seed: the seed of every per-item generator (``np.random.default_rng((seed, epoch, i))``).
        labeled_seed: ``"digits"`` only: None keeps the fixed labeled images; a seed draws other
            class-stratified ones (the test images stay), see :func:`digits_split`.
        val_fraction: a root without a val split (a folder of class subfolders, or one with a train
            split only): hold out this share of each class for validation, shuffled by ``seed``
            (:func:`holdout_split`; the bundle's ``split`` says which files). Refused with a val split.
        train_split, val_split: the split names (folders or ``NAME.tar``) under the root, timm's
            ``--train-split`` / ``--val-split``; None looks for ``train``/``training`` and
            ``val``/``validation``/``valid``/``eval``/``evaluation``.

    Raises:
        FileNotFoundError: ``spec`` or ``unlabeled`` is not there.
        ValueError: a split without images, a train split with fewer than 2 classes, a val class the
            train split lacks, a bad argument.
    """
    if not isinstance(cfg, DataConfig):
        raise TypeError(f"cfg must be a DataConfig (see resolve_data_config), got {type(cfg).__name__}")
    integer(max_image_pixels, "max_image_pixels", low=1, optional=True)
    train_t = train_transform(cfg, scale=scale, ratio=ratio, hflip=hflip, image_aug=image_aug)
    eval_t = eval_transform(cfg)
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"--data must be 'digits' or a dataset root path, got {type(spec).__name__}")
    if str(spec) == "digits":
        if val_fraction is not None or train_split is not None or val_split is not None:
            raise ValueError("--val-fraction, --train-split and --val-split apply to a dataset root, not --data digits")
        bundle = _digits(num_labeled, train_t, eval_t, seed, labeled_seed, unlabeled in (None, "digits"))
    elif unlabeled == "digits":
        raise ValueError(f"--unlabeled 'digits' goes with --data digits only, got --data {str(spec)!r}")
    elif str(spec).startswith(STREAM_PREFIXES):
        if val_fraction is not None:
            raise ValueError(f"--val-fraction holds out part of class folders, not of --data {str(spec)!r}")
        bundle = _streamed(str(spec), train_t, eval_t, seed, max_image_pixels, train_split, val_split)
    else:
        if val_fraction is not None:
            check_val_fraction(val_fraction)
        bundle = _image_root(Path(spec), train_t, eval_t, seed, max_image_pixels, val_fraction, train_split, val_split)
    if unlabeled is not None and unlabeled != "digits":
        bundle.unlabeled = unlabeled_folder(unlabeled, train_t, seed=seed, max_image_pixels=max_image_pixels)
        bundle.unlabeled_eval = bundle.unlabeled.with_transform(eval_t)
        bundle.hidden_targets = None
    bundle.image_size, bundle.data_config = cfg.img_size[0], cfg
    return bundle


#: The ``--data`` / ``--unlabeled`` prefixes of sharded and Hugging Face sources (timm's spelling).
STREAM_PREFIXES = (WDS_PREFIX, HFDS_PREFIX, HFIDS_PREFIX)


def _streamed(spec: str, train_t, eval_t, seed: int, max_image_pixels, train_split, val_split) -> DataBundle:
    """The train and val splits of ``wds/ROOT`` or ``hfds/PATH``."""
    _refuse_iterable(spec, "--data")
    splits = wds_splits if spec.startswith(WDS_PREFIX) else hf_splits
    root = spec.split("/", 1)[1]
    train, test = splits(root, train_split, val_split, train_t, eval_t, seed=seed, max_image_pixels=max_image_pixels)
    _check_class_count(Path(root), train.classes)
    return DataBundle(spec, train, test, len(train.classes), 0, class_names=train.classes)


def stream_record(bundle: DataBundle) -> dict[str, object] | None:
    """What a run records of its sharded or Hugging Face splits (None when it has none): per split the
    number of samples, and one ``sha256`` over every split's keys in order. A resumed run whose record
    differs (a shard added, removed or rewritten, another pattern) reads other samples and is refused."""
    parts = {"train": bundle.labeled, "val": bundle.test, "unlabeled": bundle.unlabeled}
    streamed = {name: d for name, d in parts.items() if d is not None and getattr(d, "exactly_once", False)}
    if not streamed:
        return None
    digest = hashlib.sha256()
    for name, dataset in streamed.items():
        digest.update(json.dumps([name, list(dataset.ids)], separators=(",", ":")).encode())
    return {**{f"{name}_samples": len(d) for name, d in streamed.items()}, "sha256": digest.hexdigest()}


def _refuse_iterable(spec: str, flag: str) -> None:
    if spec.startswith(HFIDS_PREFIX):
        raise ValueError(
            f"{flag} {spec!r}: an iterable Hugging Face dataset has no row index to resume or shard by; "
            f"use {HFDS_PREFIX}{spec[len(HFIDS_PREFIX) :]} (a dataset saved to disk, or parquet files)"
        )


def _digits(num_labeled: int, train_t, eval_t, seed: int, labeled_seed: int | None, with_unlabeled: bool) -> DataBundle:
    """The digits bundle; its own unlabeled split (and their hidden labels) only where no folder replaces it."""
    split = digits_split(num_labeled=num_labeled, labeled_seed=labeled_seed)
    classes = [str(c) for c in range(10)]

    def make(indices: np.ndarray, transform, labeled: bool = True) -> StreamImageDataset:
        targets = split.targets[indices] if labeled else np.full(len(indices), UNLABELED)
        source = ArraySource(np.ascontiguousarray(split.images[indices]))
        return StreamImageDataset(source, targets, split.ids(indices), transform, seed=seed, classes=classes)

    bundle = DataBundle("digits", make(split.labeled, train_t), make(split.test, eval_t), 10, 0, class_names=classes)
    if with_unlabeled:
        bundle.unlabeled = make(split.unlabeled, train_t, labeled=False)
        bundle.unlabeled_eval = bundle.unlabeled.with_transform(eval_t)
        bundle.hidden_targets = torch.from_numpy(split.targets[split.unlabeled])
    return bundle


def _image_root(
    root: Path,
    train_t,
    eval_t,
    seed: int,
    max_image_pixels: int | None,
    val_fraction: float | None,
    train_split: str | None,
    val_split: str | None,
) -> DataBundle:
    """A dataset root: its train and val splits, or a stratified ``val_fraction`` of each class held out of
    its class folders (or of its train folder, when it has no val split)."""
    if not root.is_dir():
        raise FileNotFoundError(
            f"--data must be 'digits' or a dataset root with train/ and val/ (folders or .tar files), "
            f"got {str(root)!r} (not a directory)"
        )
    for flag, name in (("--train-split", train_split), ("--val-split", val_split)):
        if name is not None and (not name or "/" in name or "\\" in name or name in (".", "..")):
            raise ValueError(f"{flag} must name a folder (or NAME.tar) directly under the dataset root, got {name!r}")
    train_names = (train_split,) if train_split is not None else _TRAIN_SPLITS
    val_names = (val_split,) if val_split is not None else _VAL_SPLITS
    train_path = _look_for_split(root, train_names)
    val_path = _look_for_split(root, val_names)
    if train_path is None:
        if train_split is not None or val_path is not None:
            raise _missing_split(root, train_names)
        listing = _class_folders(root, max_image_pixels)
        if val_fraction is None:
            raise ValueError(
                f"--data {str(root)!r} is a folder of class subfolders ({len(listing.classes)} classes) without "
                "train/ and val/ splits: pass --val-fraction F (e.g. 0.1) to hold out a stratified share of each "
                "class for validation"
            )
    elif val_path is None and val_fraction is not None and train_path.suffix != ".tar":
        listing = list_image_folder(train_path, max_image_pixels=max_image_pixels)
        _check_class_count(train_path, listing.classes or [])
    else:
        if val_fraction is not None and val_path is not None:
            raise ValueError(
                f"--val-fraction holds out part of a folder of class subfolders (or of a train/ folder without a "
                f"val split); --data {str(root)!r} has its own val split ({val_path.name}): drop --val-fraction"
            )
        if val_fraction is not None:
            raise ValueError(
                f"--val-fraction holds out part of class folders, not of a tar file; --data {str(root)!r} has "
                f"{train_path.name} and no val split: add val/ or val.tar, or extract the tar"
            )
        if val_path is None:
            raise _missing_split(root, val_names)
        train = _split_dataset(train_path, None, train_t, seed, max_image_pixels)
        _check_class_count(train_path, train.classes)
        test = _split_dataset(val_path, train.classes, eval_t, seed, max_image_pixels)
        return DataBundle(str(root), train, test, len(train.classes), 0, class_names=train.classes)
    split = holdout_split(listing, val_fraction, seed)
    held = set(split.val)
    in_val = [r in held for r in listing.relpaths]
    train = _dataset(_subset_listing(listing, [not v for v in in_val]), train_t, seed, max_image_pixels)
    test = _dataset(_subset_listing(listing, in_val), eval_t, seed, max_image_pixels)
    return DataBundle(str(root), train, test, len(train.classes), 0, class_names=train.classes, split=split)


def _class_folders(root: Path, max_image_pixels: int | None) -> Listing:
    """``root`` listed as one ImageFolder split; a root that is not one (no class subfolders of images,
    fewer than 2 classes) is refused saying what a dataset root holds."""
    try:
        listing = list_image_folder(root, max_image_pixels=max_image_pixels)
    except ValueError:
        listing = None
    if listing is None or len(listing.classes or []) < 2:
        raise FileNotFoundError(
            f"dataset root {str(root)!r} has no train split (train/, training/ or train.tar) and is not a folder of "
            "2 or more class subfolders of images (<root>/<class>/<images>, with --val-fraction F)"
        )
    return listing


def _subset_listing(listing: Listing, keep: Sequence[bool], skipped: Sequence[tuple[str, str]] = ()) -> Listing:
    """The files of ``listing`` where ``keep`` is true (classes as they were, ``skipped`` added to its skipped)."""
    relpaths = [r for r, k in zip(listing.relpaths, keep) if k]
    targets = [t for t, k in zip(listing.targets, keep) if k]
    return Listing(listing.root, relpaths, targets, listing.classes, listing.skipped + list(skipped))


def _look_for_split(root: Path, names: Sequence[str]) -> Path | None:
    """The first of ``root/NAME`` (a folder) or ``root/NAME.tar`` that exists, or None."""
    for name in names:
        for candidate in (root / name, root / f"{name}.tar"):
            if candidate.is_dir() or (candidate.is_file() and candidate.suffix == ".tar"):
                return candidate
    return None


def _check_class_count(split: Path, classes: Sequence[str]) -> None:
    """A classifier needs two classes: one class trains to a constant that scores top-1 1.0."""
    if len(classes) < 2:
        found = f"1 class ({classes[0]!r})" if classes else "no classes"
        raise ValueError(
            f"--data split {str(split)!r} has {found}; classification needs at least 2 class folders "
            "(<split>/<class>/<images>)"
        )


def _missing_split(root: Path, names: Sequence[str]) -> FileNotFoundError:
    return FileNotFoundError(
        f"dataset root {str(root)!r} has no {names[0]} split: expected one of "
        f"{', '.join(n + '/' for n in names)} or {names[0]}.tar"
    )


def unlabeled_folder(
    root: str | os.PathLike,
    transform: Callable,
    *,
    seed: int = 0,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
    verify: bool = False,
    workers: int = 1,
) -> StreamImageDataset:
    """Every image under ``root`` (recursively), streamed through ``transform``, targets ``UNLABELED``;
    files the listing could not use (header over ``max_image_pixels``, unreadable) are in ``.skipped``.

    ``verify=True`` also decodes every file once (``verify_image``, on ``workers`` threads) and skips
    the ones that fail (a truncated JPEG whose header is intact, a corrupt file), so that a pass over
    the dataset cannot stop at one bad file. It costs about one decode per image.
    """
    if str(root).startswith(STREAM_PREFIXES):
        _refuse_iterable(str(root), "--unlabeled")
        read = wds_unlabeled if str(root).startswith(WDS_PREFIX) else hf_unlabeled
        return read(str(root).split("/", 1)[1], transform, seed=seed, max_image_pixels=max_image_pixels)
    listing = list_images(root, max_image_pixels=max_image_pixels, what="--unlabeled folder")
    if verify:
        listing = _verified(listing, max_image_pixels, workers)
    return _dataset(listing, transform, seed, max_image_pixels)


def _verified(listing: Listing, max_image_pixels: int | None, workers: int) -> Listing:
    from concurrent.futures import ThreadPoolExecutor

    integer(workers, "workers", low=1)
    paths = [os.path.join(listing.root, rel) for rel in listing.relpaths]
    with ThreadPoolExecutor(max_workers=workers) as pool:  # OpenCV releases the GIL while decoding
        reasons = list(pool.map(lambda p: verify_image(p, max_image_pixels), paths))
    bad = [(p, r) for p, r in zip(paths, reasons) if r is not None]
    listing = _subset_listing(listing, [r is None for r in reasons], bad)
    if not listing.relpaths:
        raise ValueError(f"--unlabeled folder {listing.root!r} holds no readable images{_skip_note(listing.skipped)}")
    return listing


def _dataset(listing: Listing, transform, seed: int, max_image_pixels: int | None) -> StreamImageDataset:
    return StreamImageDataset(
        FileSource(listing.root, listing.relpaths, max_image_pixels),
        listing.targets,
        listing.relpaths,
        transform,
        seed=seed,
        classes=listing.classes,
        skipped=listing.skipped,
    )


def _split_dataset(
    path: Path, classes: list[str] | None, transform, seed: int, max_image_pixels: int | None
) -> StreamImageDataset:
    """An ImageFolder split, or a tar split through ``timm.data.create_dataset`` (class names are the leaf
    folders inside the tar); ``classes`` (the train split's) fixes the class ids."""
    if path.suffix != ".tar":
        listing = list_image_folder(path, classes, max_image_pixels=max_image_pixels)
        return _dataset(listing, transform, seed, max_image_pixels)
    import timm.data

    try:
        reader = timm.data.create_dataset("", root=str(path), split="train", search_split=False).reader
    except (AssertionError, ValueError) as exc:  # timm asserts when a tar holds no images
        raise ValueError(f"tar split {str(path)!r} holds no images timm can read ({exc})") from None
    names = {i: c for c, i in reader.class_name_to_idx.items()}
    own = [names[int(t)] for t in reader.targets]
    if classes is None:
        classes = sorted(reader.class_name_to_idx, key=lambda c: reader.class_name_to_idx[c])
    unknown = sorted(set(own) - set(classes))
    if unknown:
        raise ValueError(f"split {str(path)!r} has classes the train split lacks: {unknown} (train classes: {classes})")
    lookup = {c: i for i, c in enumerate(classes)}
    ids = [reader.filename(i) for i in range(len(reader))]
    source = TarSource(reader, max_image_pixels=max_image_pixels)
    return StreamImageDataset(source, [lookup[c] for c in own], ids, transform, seed=seed, classes=classes)

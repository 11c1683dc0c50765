"""What a task trains and evaluates on, built from a data spec and the model's :class:`DataConfig`.

``build_data("digits", cfg)`` is the embedded default; ``build_data(PATH, cfg)`` reads an ImageFolder
root (``train/`` and ``val/`` or ``validation/`` folders, or ``train.tar`` / ``val.tar`` through
``timm.data.create_dataset``); ``unlabeled=DIR`` adds every image under ``DIR``. Every split
streams: images are read and decoded in ``__getitem__``, in the DataLoader workers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .._validate import integer
from .config import DataConfig
from .datasets import UNLABELED, StreamImageDataset
from .decode import DEFAULT_MAX_IMAGE_PIXELS, verify_image
from .digits import digits_split
from .sources import ArraySource, FileSource, Listing, TarSource, _skip_note, list_image_folder, list_images
from .transforms import eval_transform, train_transform

__all__ = ["DataBundle", "build_data", "unlabeled_folder"]

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
        keep = unlabeled in (None, "digits")
        bundle = _digits(num_labeled, train_t, eval_t, seed, keep_unlabeled=keep, labeled_seed=labeled_seed)
    else:
        if unlabeled == "digits":
            raise ValueError(f"--unlabeled 'digits' goes with --data digits only, got --data {str(spec)!r}")
        bundle = _image_root(Path(spec), train_t, eval_t, seed, max_image_pixels)
    if unlabeled is not None and unlabeled != "digits":
        bundle.unlabeled = unlabeled_folder(unlabeled, train_t, seed=seed, max_image_pixels=max_image_pixels)
        bundle.unlabeled_eval = bundle.unlabeled.with_transform(eval_t)
        bundle.hidden_targets = None
    bundle.image_size, bundle.data_config = cfg.img_size[0], cfg
    return bundle


def _digits(
    num_labeled: int, train_t, eval_t, seed: int, keep_unlabeled: bool, labeled_seed: int | None = None
) -> DataBundle:
    split = digits_split(num_labeled=num_labeled, labeled_seed=labeled_seed)
    classes = [str(c) for c in range(10)]

    def make(indices: np.ndarray, transform, labeled: bool = True) -> StreamImageDataset:
        targets = split.targets[indices] if labeled else np.full(len(indices), UNLABELED)
        source = ArraySource(np.ascontiguousarray(split.images[indices]))
        return StreamImageDataset(source, targets, split.ids(indices), transform, seed=seed, classes=classes)

    bundle = DataBundle("digits", make(split.labeled, train_t), make(split.test, eval_t), 10, 0, class_names=classes)
    if keep_unlabeled:
        bundle.unlabeled = make(split.unlabeled, train_t, labeled=False)
        bundle.unlabeled_eval = bundle.unlabeled.with_transform(eval_t)
        bundle.hidden_targets = torch.from_numpy(split.targets[split.unlabeled])
    return bundle


def _image_root(root: Path, train_t, eval_t, seed: int, max_image_pixels: int | None) -> DataBundle:
    if not root.is_dir():
        raise FileNotFoundError(
            f"--data must be 'digits' or a dataset root with train/ and val/ (folders or .tar files), "
            f"got {str(root)!r} (not a directory)"
        )
    train_path, val_path = _find_split(root, _TRAIN_SPLITS), _find_split(root, _VAL_SPLITS)
    if train_path.suffix == ".tar":
        train = _tar_dataset(train_path, None, train_t, seed, max_image_pixels)
    else:
        listing = list_image_folder(train_path, max_image_pixels=max_image_pixels)
        train = _dataset(listing, train_t, seed, max_image_pixels)
    _check_class_count(train_path, train.classes)
    if val_path.suffix == ".tar":
        test = _tar_dataset(val_path, train.classes, eval_t, seed, max_image_pixels)
    else:
        listing = list_image_folder(val_path, train.classes, max_image_pixels=max_image_pixels)
        test = _dataset(listing, eval_t, seed, max_image_pixels)
    return DataBundle(str(root), train, test, len(train.classes), 0, class_names=train.classes)


def _check_class_count(split: Path, classes: Sequence[str]) -> None:
    """A classifier needs two classes: one class trains to a constant that scores top-1 1.0."""
    if len(classes) < 2:
        found = f"1 class ({classes[0]!r})" if classes else "no classes"
        raise ValueError(
            f"--data split {str(split)!r} has {found}; classification needs at least 2 class folders "
            "(<split>/<class>/<images>)"
        )


def _find_split(root: Path, names: Sequence[str]) -> Path:
    for name in names:
        for candidate in (root / name, root / f"{name}.tar"):
            if candidate.is_dir() or (candidate.is_file() and candidate.suffix == ".tar"):
                return candidate
    raise FileNotFoundError(
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
    keep = [reason is None for reason in reasons]
    skipped = listing.skipped + [(p, r) for p, r in zip(paths, reasons) if r is not None]
    relpaths = [rel for rel, k in zip(listing.relpaths, keep) if k]
    targets = [t for t, k in zip(listing.targets, keep) if k]
    if not relpaths:
        raise ValueError(f"--unlabeled folder {listing.root!r} holds no readable images{_skip_note(skipped)}")
    return Listing(listing.root, relpaths, targets, listing.classes, skipped)


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


def _tar_dataset(
    path: Path, classes: list[str] | None, transform, seed: int, max_image_pixels: int | None
) -> StreamImageDataset:
    """A tar split through ``timm.data.create_dataset``; class names are the leaf folders inside the tar."""
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

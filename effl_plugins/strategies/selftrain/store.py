"""The pseudo-label store: a teacher's predictions on an unlabeled set, on disk, resumable.

On-disk format (a directory; no pickle anywhere)::

    STORE/
      manifest-rank00000.json     one per labelling rank (JSON, written atomically)
      shard-r00000-00000.safetensors
      ...

A rank manifest holds the store's :class:`StoreSpec`, ``format``, ``version``, ``rank``, ``world_size``,
``shards`` (``[{"file", "index", "count"}, ...]``) and ``complete`` (without ``precision``: ``float32``).
Rank ``r`` labels the strided slice ``r, r + W, r + 2W, ...`` of the unlabeled set in shards of ``S``
images. A shard holds ``positions`` (int64 ``[n]``) and either ``probs`` ``[n, K]`` or, with ``top_k``,
``topk_ids`` ``[n, k]`` (:func:`id_dtype`) and ``topk_probs`` ``[n, k]``, in the store's ``precision``;
its metadata key ``effl`` holds ``{"ids": [the images' string ids], "teacher_hash": ...}``. The same
teacher on the same images writes byte-identical shards.

Resume: each shard, then the manifest listing it, is written atomically; the manifest is the truth (a
shard it does not list is rewritten, a listed one skipped). ``store_lock`` keeps one writer per rank.

The reader trusts nothing: :func:`read_store` checks every manifest, shard path, tensor, id and probability
row, and every failure is one ``PseudoLabelStoreError`` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

import torch

from ..._validate import integer, is_number
from ...errors import PseudoLabelStoreError
from ...lock import exclusive_lock
from ...train.checkpoints import atomic_write_bytes, remove_temporaries

__all__ = [
    "FORMAT",
    "VERSION",
    "StoreSpec",
    "PseudoLabels",
    "state_dict_hash",
    "file_hash",
    "rank_positions",
    "shard_name",
    "manifest_name",
    "store_lock",
    "PRECISIONS",
    "id_dtype",
    "write_shard",
    "RankManifest",
    "load_manifest",
    "read_manifests",
    "shard_path",
    "read_shard",
    "read_store",
]

FORMAT = "effl-pseudo-labels"
VERSION = 1
#: How a store may keep its probabilities: the dtype on disk (a reader always returns float32).
PRECISIONS = {"float32": torch.float32, "float16": torch.float16}
#: How far a full probability row's sum may be from 1 (a top-k row's sum may not exceed 1 by more).
ROW_SUM_TOLERANCE = 1e-3


def file_hash(path: str | os.PathLike) -> str:
    """sha256 hex digest of a checkpoint file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_dict_hash(model: torch.nn.Module) -> str:
    """sha256 hex digest of a model's state dict: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


@dataclass(frozen=True)
class StoreSpec:
    """What a labelling run promises; a resumed run must promise the same."""

    teacher_hash: str
    num_images: int
    num_classes: int
    shard_size: int = 256
    top_k: int | None = None
    temperature: float = 1.0
    precision: str = "float32"

    def __post_init__(self) -> None:
        integer(self.shard_size, "shard_size", low=1)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {self.precision!r}")
        if self.top_k is not None and not 1 <= self.top_k <= self.num_classes:
            raise ValueError(f"top_k must be None or in [1, num_classes={self.num_classes}], got {self.top_k!r}")


def rank_positions(num_images: int, rank: int, world_size: int) -> list[int]:
    """Rank ``rank``'s strided share of positions ``0..num_images-1``."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank!r}")
    return list(range(rank, num_images, world_size))


def shard_name(rank: int, index: int) -> str:
    return f"shard-r{rank:05d}-{index:05d}.safetensors"


def manifest_name(rank: int) -> str:
    return f"manifest-rank{rank:05d}.json"


def store_lock(root: str | os.PathLike, rank: int = 0) -> AbstractContextManager[Path]:
    """Rank ``rank``'s writer lock on the store at ``root``; ``LockHeldError`` names the holding pid."""
    return exclusive_lock(root, name=f".lock-rank{rank:05d}", what="pseudo-label store")


def id_dtype(num_classes: int, precision: str) -> torch.dtype:
    """The dtype of a top-k store's class ids: int64 at float32 precision, else the smallest of int16 and
    int32 that holds ``num_classes - 1``."""
    if precision == "float32":
        return torch.int64
    return torch.int16 if num_classes <= 2**15 else torch.int32


def write_shard(path: Path, positions: Sequence[int], ids: Sequence[str], probs: torch.Tensor, spec: StoreSpec) -> None:
    """One shard, atomically. ``probs`` ``[n, K]`` float; with ``spec.top_k`` only the top-k are kept, in
    ``spec.precision``."""
    from safetensors.torch import save

    tensors = {"positions": torch.as_tensor(list(positions), dtype=torch.int64)}
    probs = probs.detach().float().cpu().contiguous()
    stored = PRECISIONS[spec.precision]
    if spec.top_k is None:
        tensors["probs"] = probs.to(stored)
    else:
        values, indices = probs.topk(spec.top_k, dim=1)
        tensors["topk_ids"] = indices.to(id_dtype(spec.num_classes, spec.precision)).contiguous()
        tensors["topk_probs"] = values.to(stored).contiguous()
    # one metadata key: safetensors does not keep the order of several, and shards must be byte-stable
    metadata = {"effl": json.dumps({"ids": list(ids), "teacher_hash": spec.teacher_hash}, sort_keys=True)}
    atomic_write_bytes(path, save(tensors, metadata=metadata))


class RankManifest:
    """One rank's manifest: which shards are done. Write only under ``store_lock(root, rank)``: ``open``
    removes the rank's stray temporary files."""

    def __init__(self, root: str | os.PathLike, spec: StoreSpec, rank: int = 0, world_size: int = 1):
        self.root, self.spec, self.rank, self.world_size = Path(root), spec, rank, world_size
        self.path = self.root / manifest_name(rank)
        self.shards: list[dict[str, Any]] = []
        self.complete = False

    def header(self) -> dict[str, Any]:
        s = self.spec
        return {
            "format": FORMAT,
            "version": VERSION,
            "teacher_hash": s.teacher_hash,
            "num_images": s.num_images,
            "num_classes": s.num_classes,
            "top_k": s.top_k,
            "temperature": s.temperature,
            "shard_size": s.shard_size,
            "precision": s.precision,
            "rank": self.rank,
            "world_size": self.world_size,
        }

    def open(self, resume: bool) -> RankManifest:
        """Start afresh (``resume=False``: this rank's old shards are removed) or pick up the listed shards."""
        self.root.mkdir(parents=True, exist_ok=True)
        remove_temporaries(self.root, f"shard-r{self.rank:05d}-*.safetensors")
        remove_temporaries(self.root, self.path.name)
        if resume and self.path.is_file():
            saved = load_manifest(self.path)  # an older manifest reads as float32
            mismatch = {k: (saved[k], v) for k, v in self.header().items() if saved[k] != v}
            if mismatch:
                raise PseudoLabelStoreError(
                    self.root,
                    f"cannot resume: it was written with other settings "
                    f"(saved, now): {mismatch}; label into a new directory "
                    "or drop resume",
                )
            self.shards, self.complete = saved["shards"], saved["complete"]
            return self
        for old in self.root.glob(f"shard-r{self.rank:05d}-*.safetensors"):
            old.unlink()
        self.shards, self.complete = [], False
        self.save()
        return self

    def done(self) -> set[int]:
        return {s["index"] for s in self.shards}

    def add(self, index: int, count: int) -> None:
        self.shards.append({"file": shard_name(self.rank, index), "index": index, "count": count})
        self.save()

    def save(self) -> None:
        body = {**self.header(), "shards": sorted(self.shards, key=lambda s: s["index"]), "complete": self.complete}
        atomic_write_bytes(self.path, (json.dumps(body, indent=1) + "\n").encode())


@dataclass
class PseudoLabels:
    """A whole store read back: ``probs`` ``[N, K]`` in unlabeled-set order (top-k stores: zeros
    outside the kept classes), ``ids`` the images' ids, ``teacher_hash`` who labelled them."""

    ids: list[str]
    probs: torch.Tensor
    teacher_hash: str


# ---------------------------------------------------------------------------------------------- reading

#: Keys on which every rank of one store must agree.
_SHARED_KEYS = ("format", "version", "teacher_hash", "num_images", "num_classes", "top_k", "temperature")
_SHARED_KEYS += ("shard_size", "precision", "world_size")
#: Keys every rank manifest holds: the shared ones and the rank's own.
_MANIFEST_KEYS = (*_SHARED_KEYS, "rank", "shards", "complete")
#: Keys a manifest may leave out, and what that means (manifests written before the key existed).
_OPTIONAL_KEYS = {"precision": "float32"}


def _fail(path: str | os.PathLike, problem: str) -> NoReturn:
    raise PseudoLabelStoreError(path, problem)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_header(path: Path, body: dict[str, Any]) -> None:
    if body["format"] != FORMAT:
        _fail(path, f"format {body['format']!r} is not {FORMAT!r}: not a pseudo-label store manifest")
    if body["version"] != VERSION or not _is_int(body["version"]):
        _fail(path, f"unknown version {body['version']!r}; this reader knows version {VERSION}")
    rules = {
        "teacher_hash": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
        "num_images": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
        "num_classes": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        "top_k": (lambda v: v is None or (_is_int(v) and 1 <= v <= body["num_classes"]), "null or 1..num_classes"),
        "temperature": (
            lambda v: is_number(v) and math.isfinite(v) and v > 0,
            "a finite number > 0",
        ),
        "shard_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        "precision": (lambda v: isinstance(v, str) and v in PRECISIONS, f"one of {sorted(PRECISIONS)}"),
        "world_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
        "rank": (lambda v: _is_int(v) and 0 <= v < body["world_size"], "an integer in 0..world_size-1"),
        "shards": (lambda v: isinstance(v, list), "a list"),
        "complete": (lambda v: isinstance(v, bool), "true or false"),
    }
    for key, (valid, allowed) in rules.items():  # in this order: later rules use earlier keys
        if not valid(body[key]):
            _fail(path, f"{key!r} is {body[key]!r}; it must be {allowed}")
    if path.name != manifest_name(body["rank"]):
        _fail(path, f"holds rank {body['rank']} but is not named {manifest_name(body['rank'])!r}")


def _check_shard_entries(path: Path, shards: list[Any]) -> None:
    seen: set[int] = set()
    for entry in shards:
        if not isinstance(entry, dict) or set(entry) != {"file", "index", "count"}:
            _fail(path, f"shard entry {entry!r} must be an object with exactly the keys 'file', 'index', 'count'")
        if not isinstance(entry["file"], str) or not _is_int(entry["index"]) or not _is_int(entry["count"]):
            _fail(path, f"shard entry {entry!r}: 'file' must be a string, 'index' and 'count' integers")
        if entry["index"] < 0 or entry["count"] < 0 or entry["index"] in seen:
            _fail(path, f"shard entry {entry!r}: index and count must be >= 0 and each index listed once")
        seen.add(entry["index"])


def load_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """One rank manifest read and checked: a JSON object with every key, each of the right type."""
    path = Path(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        _fail(path, f"unreadable manifest ({type(exc).__name__}: {exc})")
    except json.JSONDecodeError as exc:
        _fail(path, f"the manifest is not valid JSON ({exc})")
    if not isinstance(body, dict):
        _fail(path, f"a manifest must be a JSON object, got a JSON {type(body).__name__}")
    body = {**_OPTIONAL_KEYS, **body}
    missing = [key for key in _MANIFEST_KEYS if key not in body]
    if missing:
        _fail(path, f"the manifest lacks the keys {missing}")
    _check_header(path, body)
    _check_shard_entries(path, body["shards"])
    return body


def shard_path(root: Path, manifest: Path, name: str) -> Path:
    """``root / name`` when ``name`` is a plain file name whose file (symlinks followed) lies in ``root``."""
    pure = PurePosixPath(name)
    if pure.is_absolute() or os.path.isabs(name):
        _fail(manifest, f"shard file {name!r} is an absolute path; shard files must lie inside the store")
    if ".." in pure.parts:
        _fail(manifest, f"shard file {name!r} climbs out with '..'; shard files must lie inside the store")
    if len(pure.parts) != 1 or name in ("", "."):
        _fail(manifest, f"shard file {name!r} is not a plain file name inside the store")
    path = root / name
    resolved = path.resolve()
    if resolved.parent != root.resolve():
        _fail(path, f"is a link resolving outside the store (to {str(resolved)!r})")
    if not path.is_file():
        _fail(path, f"listed in {manifest.name} but not a file in the store")
    return path


def _check_tensor(path: Path, name: str, tensor: torch.Tensor, dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    if tensor.dtype != dtype or tuple(tensor.shape) != shape:
        _fail(path, f"{name!r} is {tensor.dtype} {list(tensor.shape)}; expected {dtype} {list(shape)}")


def _check_rows(path: Path, name: str, rows: torch.Tensor, positions: torch.Tensor, full: bool) -> None:
    """Probability rows: finite, in [0, 1], summing to 1 (full rows) or at most 1 (top-k rows)."""
    sums = rows.double().sum(dim=1)
    problems = [
        (~torch.isfinite(rows).all(dim=1), "is not finite"),
        (((rows < 0) | (rows > 1)).any(dim=1), "has values outside [0, 1]"),
        (
            (sums - 1).abs() > ROW_SUM_TOLERANCE if full else sums > 1 + ROW_SUM_TOLERANCE,
            f"sums to more than 1 + {ROW_SUM_TOLERANCE}"
            if not full
            else f"does not sum to 1 within {ROW_SUM_TOLERANCE}",
        ),
    ]
    for bad, what in problems:
        if bad.any():
            row = int(bad.nonzero()[0])
            _fail(path, f"{name} row {row} (position {int(positions[row])}) {what}: {rows[row].tolist()[:8]}")


def _read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: handle.get_tensor(key) for key in handle.keys()}, dict(handle.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - truncated, corrupt or not safetensors: all one answer
        _fail(path, f"not a readable safetensors file ({type(exc).__name__}: {exc})")


def read_shard(path: Path, manifest: dict[str, Any], count: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """``(positions [n], ids, probs [n, K])`` of one shard, every field checked against its manifest."""
    tensors, metadata = _read_tensors(path)
    n, k, top_k = manifest["num_images"], manifest["num_classes"], manifest["top_k"]
    names = {"positions", "probs"} if top_k is None else {"positions", "topk_ids", "topk_probs"}
    if set(tensors) != names:
        _fail(
            path,
            f"holds the tensors {sorted(tensors)}; a {'full' if top_k is None else 'top-k'} shard holds "
            f"{sorted(names)}",
        )
    try:
        meta = json.loads(metadata["effl"])
        ids, teacher_hash = meta["ids"], meta["teacher_hash"]
    except (KeyError, TypeError, ValueError):
        _fail(path, "its metadata 'effl' must be a JSON object with 'ids' and 'teacher_hash'")
    if teacher_hash != manifest["teacher_hash"]:
        _fail(path, f"was labelled by teacher {teacher_hash!r}, the manifest's is {manifest['teacher_hash']!r}")
    if not isinstance(ids, list) or len(ids) != count or not all(isinstance(i, str) for i in ids):
        _fail(path, f"its metadata must list {count} string ids (the manifest's count)")
    positions = tensors["positions"]
    _check_tensor(path, "positions", positions, torch.int64, (count,))
    if count and (int(positions.min()) < 0 or int(positions.max()) >= n):
        _fail(path, f"positions must lie in 0..{n - 1}, found {int(positions.min())}..{int(positions.max())}")
    stored = PRECISIONS[manifest["precision"]]
    if top_k is None:
        probs = tensors["probs"]
        _check_tensor(path, "probs", probs, stored, (count, k))
        _check_rows(path, "probs", probs, positions, full=True)
        return positions, ids, probs.float()
    classes, values = tensors["topk_ids"], tensors["topk_probs"]
    _check_tensor(path, "topk_ids", classes, id_dtype(k, manifest["precision"]), (count, top_k))
    _check_tensor(path, "topk_probs", values, stored, (count, top_k))
    if count and (int(classes.min()) < 0 or int(classes.max()) >= k):
        _fail(path, f"topk_ids must lie in 0..{k - 1}, found {int(classes.min())}..{int(classes.max())}")
    if count and top_k > 1 and (classes.sort(dim=1).values.diff(dim=1) == 0).any():
        _fail(path, "topk_ids repeat a class within a row")
    _check_rows(path, "topk_probs", values, positions, full=False)
    return positions, ids, torch.zeros(count, k).scatter_(1, classes.long(), values.float())


def _first_repeat(positions: torch.Tensor, seen: torch.Tensor) -> int | None:
    """A position of ``positions`` already ``seen`` or listed twice in it; None when there is none."""
    earlier = seen[positions]
    if earlier.any():
        return int(positions[earlier.nonzero()[0]])
    ordered = positions.sort().values
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    return int(twice[0]) if twice.numel() else None


def read_manifests(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every rank manifest, checked alone and against each other (same store, all ranks, all complete)."""
    if not root.is_dir():
        _fail(root, "no such directory")
    paths = sorted(root.glob("manifest-rank*.json"))
    if not paths:
        _fail(root, "no manifest-rank*.json: not a pseudo-label store")
    for path in paths:
        if path.resolve().parent != root.resolve() or not path.is_file():
            _fail(path, "is not a regular file inside the store")
    manifests = [(path, load_manifest(path)) for path in paths]
    first_path, first = manifests[0]
    for path, m in manifests:
        for key in _SHARED_KEYS:
            if m[key] != first[key]:
                _fail(root, f"ranks disagree on {key}: {first[key]!r} ({first_path.name}) vs {m[key]!r} ({path.name})")
    if len(manifests) != first["world_size"]:
        _fail(root, f"has {len(manifests)} rank manifests, expected {first['world_size']} (world_size)")
    for _path, m in manifests:
        if not m["complete"]:
            _fail(root, f"is incomplete: rank {m['rank']} has not finished (resume it)")
    return manifests


def _check_expected(root: Path, manifest: dict[str, Any], expected_ids, expected_teacher_hash, expected_num_classes):
    if expected_teacher_hash is not None and manifest["teacher_hash"] != expected_teacher_hash:
        _fail(root, f"was labelled by teacher {manifest['teacher_hash']!r}, expected {expected_teacher_hash!r}")
    if expected_num_classes is not None and manifest["num_classes"] != expected_num_classes:
        _fail(root, f"has {manifest['num_classes']} classes, expected {expected_num_classes}")
    if expected_ids is not None and len(expected_ids) != manifest["num_images"]:
        _fail(root, f"labels {manifest['num_images']} images, the dataset has {len(expected_ids)}")


def read_store(
    root: str | os.PathLike,
    *,
    expected_ids: Sequence[str] | None = None,
    expected_teacher_hash: str | None = None,
    expected_num_classes: int | None = None,
    trust_ids: bool = False,
) -> PseudoLabels:
    """Merge and check every rank's shards; each position 0..N-1 must appear exactly once.

    ``expected_ids`` (the dataset's ids, in order) is required, so that a store labelled on other images
    is not read as labels of these; rows follow the ids, so a store holding the same unique ids in another
    order is returned in the order of ``expected_ids``. ``trust_ids=True`` instead reads a store unchecked
    (to inspect one). ``expected_teacher_hash`` and ``expected_num_classes``, when given, must match too.

    Shape: ``probs`` ``[N, K]`` float32, ``ids`` ``N`` strings.
    """
    if expected_ids is None and not trust_ids:
        raise TypeError(
            "read_store needs expected_ids= (the dataset's image ids, in order) to check the store labels "
            "those images; pass trust_ids=True to read it without that check"
        )
    if expected_ids is not None and trust_ids:
        raise TypeError("read_store takes expected_ids= or trust_ids=True, not both")
    if isinstance(expected_ids, str):
        raise TypeError(f"expected_ids must be a sequence of image ids, got the single string {expected_ids[:40]!r}")
    root = Path(root)
    manifests = read_manifests(root)
    first = manifests[0][1]
    _check_expected(root, first, expected_ids, expected_teacher_hash, expected_num_classes)
    n, k = first["num_images"], first["num_classes"]
    probs = torch.zeros(n, k)
    seen = torch.zeros(n, dtype=torch.bool)
    ids: list[str] = [""] * n
    for manifest_path, manifest in manifests:
        for entry in manifest["shards"]:
            path = shard_path(root, manifest_path, entry["file"])
            positions, names, rows = read_shard(path, manifest, entry["count"])
            repeat = _first_repeat(positions, seen)
            if repeat is not None:
                _fail(path, f"labels position {repeat} twice")
            seen[positions] = True
            probs.index_copy_(0, positions, rows)  # index_put (probs[positions] = rows) is ~200x slower on CPU
            for position, name in zip(positions.tolist(), names):
                ids[position] = name
    missing = (~seen).nonzero().flatten().tolist()
    if missing:
        _fail(root, f"lacks {len(missing)} images (positions {missing[:5]}...)")
    if expected_ids is not None and list(expected_ids) != ids:
        order = _by_key(ids, expected_ids)
        if order is None:
            at = next(i for i, (a, b) in enumerate(zip(ids, expected_ids)) if a != b)
            _fail(root, f"position {at} holds image id {ids[at]!r}, the dataset's is {expected_ids[at]!r}")
        probs, ids = probs[order], list(expected_ids)
    return PseudoLabels(ids=ids, probs=probs, teacher_hash=first["teacher_hash"])


def _by_key(ids: list[str], expected: Sequence[str]) -> torch.Tensor | None:
    """Where each of ``expected`` sits in ``ids`` when both hold the same unique keys in another order; else None."""
    if len(ids) != len(expected) or len(set(ids)) != len(ids) or set(ids) != set(expected):
        return None
    row = {key: i for i, key in enumerate(ids)}
    return torch.tensor([row[key] for key in expected], dtype=torch.long)

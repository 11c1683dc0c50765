"""The pseudo-label store: a teacher's predictions on an unlabeled set, on disk, resumable.

On-disk format (a directory; no pickle anywhere)::

    STORE/
      manifest-rank00000.json     one per labelling rank (JSON, written atomically)
      shard-r00000-00000.safetensors
      shard-r00000-00001.safetensors
      ...

A rank manifest is ``{"format": "effl-pseudo-labels", "version": 1, "teacher_hash": <sha256 hex>,
"num_images": N, "num_classes": K, "top_k": k or null, "temperature": T, "shard_size": S,
"rank": r, "world_size": W, "shards": [{"file", "index", "count"}, ...], "complete": bool}``.
Rank ``r`` labels the strided slice ``positions r, r + W, r + 2W, ...`` of the unlabeled set in
shards of ``S`` images. A shard is a safetensors file holding ``positions`` (int64 ``[n]``, the
images' positions in the unlabeled set) and either ``probs`` (float32 ``[n, K]``) or, with
``top_k``, ``topk_ids`` (int64 ``[n, k]``) and ``topk_probs`` (float32 ``[n, k]``); its metadata
key ``effl`` holds the JSON ``{"ids": [the images' string ids], "teacher_hash": ...}``. The same
teacher on the same images writes byte-identical shards.

Atomicity and resume: each shard is written to a temporary file and renamed into place, then the
manifest, listing it, is rewritten the same way. The manifest is the truth: a shard not listed in it
is rewritten on resume, a listed one is skipped, so a killed run resumes with no image lost or
labelled twice. ``read_store`` merges the rank manifests (any ``torchrun`` world size) and checks
that every position 0..N-1 appears exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

__all__ = ["FORMAT", "StoreSpec", "PseudoLabels", "state_dict_hash", "file_hash", "rank_positions",
           "shard_name", "write_shard", "RankManifest", "read_store"]

FORMAT = "effl-pseudo-labels"
VERSION = 1


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

    def __post_init__(self) -> None:
        if isinstance(self.shard_size, bool) or not isinstance(self.shard_size, int) or self.shard_size < 1:
            raise ValueError(f"shard_size must be an integer >= 1, got {self.shard_size!r}")
        if self.top_k is not None and not 1 <= self.top_k <= self.num_classes:
            raise ValueError(f"top_k must be None or in [1, num_classes={self.num_classes}], got {self.top_k!r}")


def rank_positions(num_images: int, rank: int, world_size: int) -> list[int]:
    """Rank ``rank``'s strided share of positions ``0..num_images-1``."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank!r}")
    return list(range(rank, num_images, world_size))


def shard_name(rank: int, index: int) -> str:
    return f"shard-r{rank:05d}-{index:05d}.safetensors"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_shard(path: Path, positions: Sequence[int], ids: Sequence[str], probs: torch.Tensor, spec: StoreSpec) -> None:
    """One shard, atomically. ``probs`` ``[n, K]`` float; with ``spec.top_k`` only the top-k are kept."""
    from safetensors.torch import save

    tensors = {"positions": torch.as_tensor(list(positions), dtype=torch.int64)}
    probs = probs.detach().float().cpu().contiguous()
    if spec.top_k is None:
        tensors["probs"] = probs
    else:
        values, indices = probs.topk(spec.top_k, dim=1)
        tensors["topk_ids"], tensors["topk_probs"] = indices.contiguous(), values.contiguous()
    # one metadata key: safetensors does not keep the order of several, and shards must be byte-stable
    metadata = {"effl": json.dumps({"ids": list(ids), "teacher_hash": spec.teacher_hash}, sort_keys=True)}
    _atomic_write_bytes(path, save(tensors, metadata=metadata))


class RankManifest:
    """One rank's manifest: which shards are done. ``save`` rewrites it atomically."""

    def __init__(self, root: str | os.PathLike, spec: StoreSpec, rank: int = 0, world_size: int = 1):
        self.root, self.spec, self.rank, self.world_size = Path(root), spec, rank, world_size
        self.path = self.root / f"manifest-rank{rank:05d}.json"
        self.shards: list[dict[str, Any]] = []
        self.complete = False

    def header(self) -> dict[str, Any]:
        s = self.spec
        return {"format": FORMAT, "version": VERSION, "teacher_hash": s.teacher_hash, "num_images": s.num_images,
                "num_classes": s.num_classes, "top_k": s.top_k, "temperature": s.temperature, "shard_size": s.shard_size,
                "rank": self.rank, "world_size": self.world_size}

    def open(self, resume: bool) -> "RankManifest":
        """Start afresh (``resume=False``: this rank's old shards are removed) or pick up the listed shards."""
        self.root.mkdir(parents=True, exist_ok=True)
        for stray in self.root.glob(f".shard-r{self.rank:05d}-*.tmp-*"):
            stray.unlink(missing_ok=True)
        if resume and self.path.is_file():
            saved = json.loads(self.path.read_text())
            mismatch = {k: (saved.get(k), v) for k, v in self.header().items() if saved.get(k) != v}
            if mismatch:
                raise ValueError(f"cannot resume the pseudo-label store {str(self.root)!r}: it was written with other "
                                 f"settings (saved, now): {mismatch}; label into a new directory or drop resume")
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
        _atomic_write_bytes(self.path, (json.dumps(body, indent=1) + "\n").encode())


@dataclass
class PseudoLabels:
    """A whole store read back: ``probs`` ``[N, K]`` in unlabeled-set order (top-k stores: zeros
    outside the kept classes), ``ids`` the images' ids, ``teacher_hash`` who labelled them."""

    ids: list[str]
    probs: torch.Tensor
    teacher_hash: str


def read_store(root: str | os.PathLike) -> PseudoLabels:
    """Merge every rank's shards; each position 0..N-1 must appear exactly once."""
    from safetensors import safe_open

    root = Path(root)
    manifests = [json.loads(p.read_text()) for p in sorted(root.glob("manifest-rank*.json"))]
    if not manifests:
        raise FileNotFoundError(f"no pseudo-label store at {str(root)!r} (no manifest-rank*.json)")
    first = manifests[0]
    if first.get("format") != FORMAT:
        raise ValueError(f"{str(root)!r} is not a pseudo-label store: format {first.get('format')!r}, expected {FORMAT!r}")
    for m in manifests:
        if not m["complete"]:
            raise ValueError(f"pseudo-label store {str(root)!r} is incomplete: rank {m['rank']} has not finished (resume it)")
        for key in ("teacher_hash", "num_images", "num_classes", "world_size", "top_k"):
            if m[key] != first[key]:
                raise ValueError(f"ranks of {str(root)!r} disagree on {key}: {first[key]!r} vs {m[key]!r}")
    if len(manifests) != first["world_size"]:
        raise ValueError(f"pseudo-label store {str(root)!r} has {len(manifests)} rank manifests, expected {first['world_size']}")
    n, k = first["num_images"], first["num_classes"]
    probs = torch.zeros(n, k)
    ids: list[str | None] = [None] * n
    for m in manifests:
        for shard in m["shards"]:
            with safe_open(str(root / shard["file"]), framework="pt") as f:
                positions = f.get_tensor("positions")
                names = json.loads(f.metadata()["effl"])["ids"]
                if "probs" in f.keys():
                    rows = f.get_tensor("probs")
                else:
                    rows = torch.zeros(len(positions), k).scatter_(1, f.get_tensor("topk_ids"), f.get_tensor("topk_probs"))
            for position, name in zip(positions.tolist(), names):
                if ids[position] is not None:
                    raise ValueError(f"pseudo-label store {str(root)!r} labels position {position} twice")
                ids[position] = name
            probs[positions] = rows
    missing = [i for i, name in enumerate(ids) if name is None]
    if missing:
        raise ValueError(f"pseudo-label store {str(root)!r} lacks {len(missing)} images (positions {missing[:5]}...)")
    return PseudoLabels(ids=ids, probs=probs, teacher_hash=first["teacher_hash"])

"""Teacher once: a teacher's predictions stored for the exact views a distillation run draws, so students
train from the store with no teacher in the loop (FKD, Shen & Xing ECCV 2022, "A Fast Knowledge
Distillation Framework for Visual Recognition"; ReLabel, Yun et al. CVPR 2021).

A run's batches are a pure function of its seed, epoch and step (:mod:`..train.streams`), so a run with the
same ``VIEW_SETTINGS`` (plus train images, student input size, world size) draws the same views: the cache
holds, for every ``(epoch, step, rank, row)``, the teacher's class probabilities at temperature 1.

On disk (a directory)::

    CACHE/teacher-cache.json      what the views are: format, teacher, epochs, view settings, layout
    CACHE/manifest-rank*.json     a pseudo-label store (:mod:`.selftrain.store`) whose "images" are the
    CACHE/shard-r*-*.safetensors  views: the same writer, the same validating reader
    CACHE/run/                    the recording run's directory (its checkpoint: exact resume)

View ``(e, s, r, j)`` is store position ``e * W * R + W * s * B + r * n_s + j`` (``W`` ranks, ``R``
images a rank per epoch, batch ``B``, ``n_s`` rows at step ``s``), with id ``"e:s:r:j:index"`` (``index``
the image's place in the train set). Shard ``i`` of rank ``r`` holds the steps ``[c S, (c + 1) S)`` of
epoch ``i // C``, ``c = i % C`` (``S = shard_steps``, ``C`` shards an epoch).

Top-k (``top_k < K``): each view keeps its k most probable classes; the mass they leave is spread uniformly
over the other ``K - k`` classes when read (FKD's choice). A reader hands the loss ``log p`` as the teacher's
logits, which every loss that reads the teacher through a softmax sees exactly as the logits; ``mse_logits``
(raw logits) and losses on features are refused.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import TeacherCacheError
from ..train.checkpoints import atomic_write_bytes
from ..train.erasing import normalisation_of
from ..train.inputs import ModelInput
from ..train.streams import Stream
from .selftrain.store import (
    RankManifest,
    StoreSpec,
    read_manifests,
    read_shard,
    shard_name,
    shard_path,
    write_shard,
)

__all__ = [
    "CACHE_FILE",
    "VIEW_SETTINGS",
    "RAW_LOGIT_LOSSES",
    "ViewLayout",
    "CacheWriter",
    "CacheReader",
    "view_settings",
    "data_fingerprint",
    "cache_info",
]

CACHE_FILE = "teacher-cache.json"
FORMAT, VERSION = "effl-teacher-cache", 1
#: The run settings that decide which views a step draws (crop, flip, batch augmentation, erasing, mixing).
VIEW_SETTINGS = (
    "seed",
    "batch_size",
    "img_size",
    "interpolation",
    "scale",
    "ratio",
    "hflip",
    "aug",
    "image_aug",
    "mixup",
    "cutmix",
    "cutmix_minmax",
    "mixup_prob",
    "mixup_switch_prob",
    "mixup_mode",
    "mixup_off_epoch",
    "reprob",
    "remode",
    "recount",
)
#: View settings added after caches were first recorded, with the value a cache that lacks one was recorded with.
_VIEW_SETTING_DEFAULTS = {"mixup_off_epoch": 0}
#: Losses that read the teacher's raw logits (a stored distribution cannot give them back).
RAW_LOGIT_LOSSES = ("mse_logits",)


def _ids(dataset) -> list[str] | None:
    """The image ids of a dataset (concatenations and subsets followed), or None where one has none."""
    if isinstance(dataset, torch.utils.data.ConcatDataset):
        parts = [_ids(d) for d in dataset.datasets]
        return None if any(p is None for p in parts) else [i for p in parts for i in p]
    if isinstance(dataset, torch.utils.data.Subset):
        inner = _ids(dataset.dataset)
        return None if inner is None else [inner[i] for i in dataset.indices]
    ids = getattr(dataset, "ids", None)
    return list(ids) if ids is not None else None


def data_fingerprint(dataset) -> str:
    """sha256 of the train set's image ids in order (its length where the images carry no ids)."""
    ids = _ids(dataset)
    text = "\n".join(ids) if ids is not None else f"{len(dataset)} images without ids"
    return hashlib.sha256(text.encode()).hexdigest()


def view_settings(config: dict[str, Any], train_set, student_input: ModelInput, world_size: int) -> dict[str, Any]:
    """Everything that decides a run's views, as plain JSON values: ``VIEW_SETTINGS``, the student's input
    size (and, with Random Erasing on, the normalisation its values are written in), the train set's images
    and the world size."""
    values = {name: config.get(name) for name in VIEW_SETTINGS}
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    size = student_input.size
    values["input_size"] = [int(v) for v in size] if size is not None else None
    erasing = config.get("reprob")
    values["erasing_mean_std"] = [list(v) for v in normalisation_of(student_input)] if erasing else None
    values["train_images"] = len(train_set)
    values["train_ids"] = data_fingerprint(train_set)
    values["world_size"] = int(world_size)
    return values


@dataclass(frozen=True)
class ViewLayout:
    """Where each step's views lie in the store (see the module docstring)."""

    steps: int  # steps an epoch
    batch_size: int
    per_rank: int  # images a rank sees an epoch
    world_size: int
    epochs: int
    shard_steps: int

    @classmethod
    def of(cls, train_images: int, batch_size: int, world_size: int, epochs: int, shard_steps: int) -> ViewLayout:
        """The layout of the engine's main stream (:class:`..train.streams.Stream`, ``drop_last=False``)."""
        stream = Stream(train_images, batch_size, seed=0, world_size=world_size)
        return cls(stream.per_pass, stream.batch_size, stream.per_rank, world_size, epochs, shard_steps)

    @property
    def shards_per_epoch(self) -> int:
        return math.ceil(self.steps / self.shard_steps)

    @property
    def total(self) -> int:
        return self.epochs * self.world_size * self.per_rank

    def rows(self, step: int) -> int:
        return min(self.batch_size, self.per_rank - step * self.batch_size)

    def offset(self, epoch: int, step: int, rank: int) -> int:
        base = epoch * self.world_size * self.per_rank + self.world_size * step * self.batch_size
        return base + rank * self.rows(step)

    def shard_index(self, epoch: int, step: int) -> int:
        return epoch * self.shards_per_epoch + step // self.shard_steps

    def last_step_of_shard(self, step: int) -> bool:
        return (step + 1) % self.shard_steps == 0 or step + 1 == self.steps


def cache_info(root: str | Path) -> dict[str, Any]:
    """``CACHE/teacher-cache.json``, checked: a JSON object of this format and version."""
    path = Path(root) / CACHE_FILE
    if not path.is_file():
        raise TeacherCacheError(root, f"no {CACHE_FILE}: not a teacher cache (write one with effl teacher-cache)")
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TeacherCacheError(path, f"is not readable JSON ({exc})") from None
    keys = {"format", "version", "teacher", "teacher_hash", "epochs", "top_k", "num_classes", "views", "layout"}
    if not isinstance(info, dict) or not keys <= set(info):
        raise TeacherCacheError(path, f"must be a JSON object with the keys {sorted(keys)}")
    if info["format"] != FORMAT or info["version"] != VERSION:
        raise TeacherCacheError(
            path, f"is {info['format']!r} version {info['version']!r}; expected {FORMAT!r} {VERSION}"
        )
    return info


class CacheWriter:
    """The recording run's sink: ``record(epoch, step, batch, logits)`` after each teacher forward.

    A finished shard is written atomically and listed in the rank's manifest; listed shards are not
    rewritten. Pending views travel in the recording task's checkpoint (:meth:`state`), so a resumed run
    writes the same shards as one that never stopped.
    """

    def __init__(self, root: str | Path, info: dict[str, Any], spec: StoreSpec, rank: int, resume: bool):
        self.root, self.info, self.spec, self.rank = Path(root), info, spec, rank
        self.layout = ViewLayout(**info["layout"])
        self.manifest = RankManifest(self.root, spec, rank, self.layout.world_size).open(resume)
        self.pending: list[tuple[int, list[int], list[str], torch.Tensor]] = []

    def record(self, epoch: int, step: int, indices: torch.Tensor, logits: torch.Tensor) -> None:
        index = self.layout.shard_index(epoch, step)
        if index not in self.manifest.done():
            probs = torch.softmax(logits.detach().float(), dim=1).cpu()
            start = self.layout.offset(epoch, step, self.rank)
            images = indices.tolist()
            ids = [f"{epoch}:{step}:{self.rank}:{j}:{i}" for j, i in enumerate(images)]
            self.pending.append((index, list(range(start, start + len(images))), ids, probs))
        if self.layout.last_step_of_shard(step):
            self.flush(index)

    def flush(self, index: int) -> None:
        """Write the pending views as shard ``index`` (nothing when it is listed already)."""
        views = [v for v in self.pending if v[0] == index]
        self.pending = [v for v in self.pending if v[0] != index]
        if not views or index in self.manifest.done():
            return
        positions = [p for v in views for p in v[1]]
        ids = [i for v in views for i in v[2]]
        probs = torch.cat([v[3] for v in views])
        write_shard(self.root / shard_name(self.rank, index), positions, ids, probs, self.spec)
        self.manifest.add(index, len(positions))

    def finish(self) -> bool:
        """Mark the rank complete when every shard of every epoch is listed; whether it is."""
        expected = set(range(self.layout.epochs * self.layout.shards_per_epoch))
        self.manifest.complete = expected <= self.manifest.done()
        self.manifest.save()
        return self.manifest.complete

    def state(self) -> dict[str, torch.Tensor]:
        """The pending views as tensors (the recording task's checkpoint state)."""
        if not self.pending:
            return {}
        return {
            "pending_index": torch.tensor([v[0] for v in self.pending for _ in v[1]]),
            "pending_positions": torch.tensor([p for v in self.pending for p in v[1]]),
            "pending_ids": torch.tensor(list(json.dumps([i for v in self.pending for i in v[2]]).encode())),
            "pending_probs": torch.cat([v[3] for v in self.pending]),
        }

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.pending = []
        if not state:
            return
        ids = json.loads(bytes(state["pending_ids"].tolist()).decode())
        index, positions = state["pending_index"].tolist(), state["pending_positions"].tolist()
        for i in sorted(set(index)):
            rows = [j for j, k in enumerate(index) if k == i]
            self.pending.append((i, [positions[j] for j in rows], [ids[j] for j in rows], state["pending_probs"][rows]))


def write_cache_info(root: Path, info: dict[str, Any], resume: bool) -> None:
    """``teacher-cache.json``, atomically; a resumed recording must describe the same cache."""
    path = root / CACHE_FILE
    if resume and path.is_file():
        saved = cache_info(root)
        differing = sorted(k for k in info if saved.get(k) != info[k])
        if differing:
            raise TeacherCacheError(root, f"cannot resume: written with other {', '.join(differing)}")
        return
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(info, indent=1, sort_keys=True) + "\n").encode())


def new_cache_info(layout: ViewLayout, **fields: Any) -> dict[str, Any]:
    """``teacher-cache.json``'s body: format, version, ``fields`` (teacher, teacher_hash, epochs, top_k,
    num_classes, views) and ``layout``."""
    return {"format": FORMAT, "version": VERSION, **fields, "layout": asdict(layout)}


class CacheReader:
    """A distillation run's teacher: ``reader(batch, epoch, step) -> [B, K]`` log-probabilities of the
    stored views of that step (on the batch's device).

    Refuses, before training, a cache whose views differ from the run's or that holds fewer epochs. Each
    step's dataset indices are compared with the stored ones on the device, read once an epoch (:meth:`check`).
    """

    def __init__(self, root: str | Path, views: dict[str, Any], epochs: int, rank: int, num_classes: int):
        self.root = Path(root)
        self.info = cache_info(self.root)
        saved = {**_VIEW_SETTING_DEFAULTS, **self.info["views"]}
        for key in sorted(set(saved) | set(views)):
            if saved.get(key) != views.get(key):
                raise TeacherCacheError(
                    self.root,
                    f"holds other views than this run draws: {key} is {saved.get(key)!r} in the cache and "
                    f"{views.get(key)!r} here; record a cache with this run's settings (effl teacher-cache)",
                )
        if epochs > self.info["epochs"]:
            raise TeacherCacheError(self.root, f"holds {self.info['epochs']} epochs of views; this run has {epochs}")
        if num_classes != self.info["num_classes"]:
            raise TeacherCacheError(self.root, f"has {self.info['num_classes']} classes; the data has {num_classes}")
        manifests = read_manifests(self.root)
        self.manifest_path, self.manifest = next((p, m) for p, m in manifests if m["rank"] == rank)
        self.entries = {e["index"]: e for e in self.manifest["shards"]}
        self.layout, self.rank = ViewLayout(**self.info["layout"]), rank
        self.top_k = self.info["top_k"]
        self.loaded: tuple[int, dict[int, tuple[torch.Tensor, torch.Tensor]]] | None = None
        self.mismatch: torch.Tensor | None = None

    def _shard(self, index: int) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Shard ``index``'s views by step: ``{step: (image indices [n], probs [n, K])}``."""
        if self.loaded is None or self.loaded[0] != index:
            entry = self.entries.get(index)
            if entry is None:
                raise TeacherCacheError(self.manifest_path, f"lists no shard {index}")
            path = shard_path(self.root, self.manifest_path, entry["file"])
            positions, ids, probs = read_shard(path, self.manifest, entry["count"])
            steps: dict[int, list[int]] = {}
            images: list[int] = []
            for row, name in enumerate(ids):
                _epoch, step, _rank, _j, image = (int(part) for part in name.split(":"))
                steps.setdefault(step, []).append(row)
                images.append(image)
            image_index = torch.tensor(images)
            self.loaded = (index, {s: (image_index[rows], probs[rows]) for s, rows in steps.items()})
        return self.loaded[1]

    def __call__(self, indices: torch.Tensor, epoch: int, step: int) -> torch.Tensor:
        stored = self._shard(self.layout.shard_index(epoch, step)).get(step)
        if stored is None or len(stored[0]) != len(indices):
            raise TeacherCacheError(self.root, f"holds no views of epoch {epoch + 1} step {step + 1} of this size")
        images, probs = (t.to(indices.device, non_blocking=True) for t in stored)
        differs = (images != indices).any()
        self.mismatch = differs if self.mismatch is None else self.mismatch | differs
        return self.logits(probs)

    def logits(self, probs: torch.Tensor) -> torch.Tensor:
        """``log p`` of the stored rows; top-k rows get the mass they leave spread over the other classes."""
        if self.top_k is not None and self.top_k < probs.shape[1]:
            kept = probs > 0
            rest = (1.0 - probs.sum(1, keepdim=True)).clamp_min(0) / (~kept).sum(1, keepdim=True).clamp_min(1)
            probs = torch.where(kept, probs, rest)
        return probs.clamp_min(torch.finfo(torch.float32).tiny).log()

    def check(self) -> None:
        """Raise when a step's images differed from the stored views' (one host read)."""
        if self.mismatch is not None and bool(self.mismatch):
            raise TeacherCacheError(
                self.root, "a step drew other images than the cache holds: the train set changed since it was written"
            )
        self.mismatch = None

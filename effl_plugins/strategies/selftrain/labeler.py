"""Labelling an unlabeled set with a teacher into the pseudo-label store, shard by shard.

The teacher runs without noise (``eval()`` mode, no gradients, the dataset's eval transform). Under
``torchrun`` each rank labels its strided share and ``read_store`` merges them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from ...train.distributed import rank_and_world as distributed_rank
from ...train.inputs import ModelInput
from .store import RankManifest, StoreSpec, rank_positions, shard_name, state_dict_hash, store_lock, write_shard

__all__ = ["distributed_rank", "teacher_probabilities", "label_dataset"]


@torch.no_grad()
def teacher_probabilities(
    teacher: nn.Module, images: torch.Tensor, model_input: ModelInput, temperature: float = 1.0, device: str = "cpu"
) -> torch.Tensor:
    """``softmax(teacher(x) / T)`` with the teacher in eval mode, ``x`` normalised by ``model_input``.

    Shape: images ``[B, C, H, W]`` uint8 -> probabilities ``[B, K]`` float32 on the CPU.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    teacher.eval()
    logits = teacher(model_input.to(device)(images.to(device))).float()
    return torch.softmax(logits / temperature, dim=1).cpu()


def label_dataset(
    teacher: nn.Module,
    dataset,
    root: str | os.PathLike,
    *,
    num_classes: int,
    model_input: ModelInput | None = None,
    teacher_hash: str | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    shard_size: int = 256,
    precision: str = "float32",
    resume: bool = False,
    device: str = "cpu",
    rank: int | None = None,
    world_size: int | None = None,
    on_shard: Callable[[int], None] | None = None,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Label this rank's share of ``dataset`` (yielding ``(uint8 [C, H, W], target)``, with ``ids``) into the
    store at ``root``, under the rank's store lock (a second writer: ``LockHeldError``).

    ``teacher_hash`` defaults to the sha256 of the teacher's state dict; ``resume=True`` skips the shards the
    manifest lists. ``on_shard(index)`` and ``progress(done, total)`` are called after each shard.
    ``model_input`` is the teacher's normalisation (default: mean 0.5, std 0.5, i.e. [-1, 1]).
    """
    if rank is None or world_size is None:
        rank, world_size = distributed_rank()
    model_input = model_input if model_input is not None else ModelInput((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    spec = StoreSpec(
        teacher_hash or state_dict_hash(teacher), len(dataset), num_classes, shard_size, top_k, temperature, precision
    )
    with store_lock(root, rank):  # one writer per rank: a second labelling run on this store is refused
        manifest = RankManifest(root, spec, rank, world_size).open(resume)
        positions = rank_positions(len(dataset), rank, world_size)
        done = manifest.done()
        teacher.to(device)
        for index, start in enumerate(range(0, len(positions), shard_size)):
            if index in done:
                continue
            chunk = positions[start : start + shard_size]
            loader = DataLoader(dataset, batch_size=64, sampler=chunk, num_workers=workers, generator=torch.Generator())
            probs = torch.cat([teacher_probabilities(teacher, x, model_input, temperature, device) for x, _ in loader])
            write_shard(Path(root) / shard_name(rank, index), chunk, [dataset.ids[i] for i in chunk], probs, spec)
            manifest.add(index, len(chunk))
            if on_shard is not None:
                on_shard(index)
            if progress is not None:
                progress(min(start + shard_size, len(positions)), len(positions))
        manifest.complete = True
        manifest.save()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # every rank's shards are on disk before anyone reads the store
    return Path(root)

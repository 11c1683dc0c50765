"""The process group ``torchrun`` describes: rank information, joining it, and summing over ranks (a single
process is rank 0 of a world of 1 and never touches ``torch.distributed``)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "distributed_info", "rank_and_world", "init_distributed", "all_sum", "all_gather_rows"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def distributed_info() -> DistInfo:
    """Rank and world size of the initialised process group (or of a single process)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return DistInfo()


def rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: the initialised process group's, else torchrun's ``RANK`` and
    ``WORLD_SIZE``, else ``(0, 1)``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed(device: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1): NCCL on CUDA, gloo on the
    CPU. Returns the rank information and this rank's device. A single process is left alone."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if rank_and_world()[1] > 1 and dist.is_available() and not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
        warn_shared_restart_store()
    info = distributed_info()
    if device.startswith("cuda") and info.distributed:
        torch.cuda.set_device(info.local_rank)
        return info, torch.device("cuda", info.local_rank)
    return info, torch.device(device)


def warn_shared_restart_store() -> None:
    """One line on rank 0 when ``torchrun --max-restarts`` shares its rendezvous store with the workers: a
    restarted worker group can then read the failed attempt's addresses and fail to connect
    (pytorch/pytorch#135712); ``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1`` set for torchrun avoids it."""
    restarts = int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0") or 0)
    shared = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    if restarts > 0 and shared and rank_and_world()[0] == 0:
        print(
            f"torchrun --max-restarts {restarts}: set TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 for torchrun, or a "
            "restarted worker group may read the failed attempt's addresses from the shared store "
            "(pytorch/pytorch#135712)",
            file=sys.stderr,
            flush=True,
        )


def all_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """``values`` summed over the ranks of ``info`` (float64 on ``device``), unchanged in a single process."""
    if not info.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` (the same shape on every rank) concatenated in rank order, without gradient.

    Shape: ``[N, ...]`` -> ``[world_size * N, ...]``.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)

"""Timing done one way for every row: warm-up, rotating input buffers, median of many runs.

- Warm-up calls first (they also pay for ``torch.compile`` and Triton JIT), then timed calls until
  ``min_runs`` are done and the time budget is spent, at most ``max_runs``; the median is reported
  with the inter-quartile range, as ``torch.utils.benchmark.Measurement`` prints it.
- Each call takes the next of several input buffers whose total size exceeds the last-level cache
  (``rotation_count``), so a kernel cannot be flattered by reading data the previous call left in cache.
- On CUDA every call is bracketed by CUDA events (device time, no host-side launch skew); on CPU
  by ``time.perf_counter``.
- The floor of a row is the time to move its bytes once at the device's copy bandwidth, measured
  in the same run by ``copy_bandwidth``: ``floor_s = bytes / bandwidth``,
  ``floor_fraction = floor_s / median_s`` (1.0 = at the floor), ``x_floor = median_s / floor_s``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "Measurement",
    "time_calls",
    "time_interleaved",
    "rotation_count",
    "copy_bandwidth",
    "floor_seconds",
    "floor_fraction",
    "row_metrics",
    "cache_bytes",
]


def cache_bytes(device: torch.device | str) -> int:
    """Last-level cache size in bytes: the GPU's L2, or the CPU's L3 (32 MiB when it cannot be read)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 50 << 20))
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as handle:
            text = handle.read().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
        return int(text.rstrip("KMG")) * scale
    except (OSError, ValueError):
        return 32 << 20


def rotation_count(bytes_per_call: int, cache: int, *, most: int = 8) -> int:
    """How many distinct input buffers to cycle through so together they are at least twice the cache."""
    if bytes_per_call <= 0:
        raise ValueError(f"bytes_per_call must be > 0, got {bytes_per_call}")
    return max(1, min(most, math.ceil(2 * cache / bytes_per_call)))


@dataclass
class Measurement:
    """Times (seconds per call) of one row, summarised like ``torch.utils.benchmark``."""

    label: str
    description: str
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def iqr(self) -> float:
        if len(self.times) < 4:
            return max(self.times) - min(self.times)
        q = statistics.quantiles(self.times, n=4)
        return q[2] - q[0]

    def __str__(self) -> str:
        unit, scale = ("ms", 1e3) if self.median >= 1e-3 else ("us", 1e6)
        return (
            f"<Measurement> {self.label}\n  {self.description}\n  Median: {self.median * scale:.3f} {unit}\n"
            f"  IQR:    {self.iqr * scale:.3f} {unit}\n  {len(self.times)} measurements, 1 call each"
        )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(
    fn: Callable[..., Any],
    inputs: Sequence[tuple],
    *,
    device: torch.device | str = "cpu",
    warmup: int = 2,
    min_runs: int = 5,
    max_runs: int = 100,
    budget_s: float = 1.0,
) -> list[float]:
    """Seconds per call of ``fn(*inputs[i % len(inputs)])``: ``warmup`` untimed calls, then at least
    ``min_runs`` timed ones, more while the budget lasts (CUDA events on CUDA)."""
    device = torch.device(device)
    if not inputs:
        raise ValueError("inputs must hold at least one argument tuple")
    for i in range(warmup):
        fn(*inputs[i % len(inputs)])
    _synchronize(device)
    times: list[float] = []
    spent_start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - spent_start < budget_s):
        args = inputs[(warmup + len(times)) % len(inputs)]
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn(*args)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            start_s = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - start_s)
    return times


def time_interleaved(
    candidates: Sequence[tuple[Callable[..., Any], Sequence[tuple]]],
    *,
    device: torch.device | str = "cpu",
    warmup: int = 2,
    min_runs: int = 5,
    max_runs: int = 100,
    budget_s: float = 1.0,
) -> list[list[float]]:
    """Time several ``(fn, inputs)`` candidates round-robin, one call each per round, so that
    load from other processes falls on all of them alike and their ratio stays meaningful.
    Returns one list of seconds per candidate; rounds continue while ``budget_s`` per candidate lasts."""
    if not candidates:
        raise ValueError("candidates must hold at least one (fn, inputs) pair")
    runs: list[list[float]] = [[] for _ in candidates]
    for fn, inputs in candidates:
        time_calls(fn, inputs, device=device, warmup=warmup, min_runs=0, max_runs=0)
    start = time.perf_counter()
    total_budget = budget_s * len(candidates)
    rounds = 0
    while rounds < max_runs and (rounds < min_runs or time.perf_counter() - start < total_budget):
        for times, (fn, inputs) in zip(runs, candidates):
            shifted = list(inputs[rounds % len(inputs) :]) + list(inputs[: rounds % len(inputs)])
            times.extend(time_calls(fn, shifted, device=device, warmup=0, min_runs=1, max_runs=1, budget_s=0.0))
        rounds += 1
    return runs


def copy_bandwidth(device: torch.device | str = "cpu", nbytes: int | None = None, *, budget_s: float = 0.5) -> float:
    """Measured device-memory copy bandwidth in bytes/s: ``dst.copy_(src)`` moves ``2 * nbytes``
    (one read, one write). Buffers are 4x the last-level cache unless ``nbytes`` says otherwise."""
    device = torch.device(device)
    nbytes = nbytes or max(4 * cache_bytes(device), 64 << 20)
    pairs = [
        (
            torch.empty(nbytes, dtype=torch.uint8, device=device).fill_(i),
            torch.empty(nbytes, dtype=torch.uint8, device=device),
        )
        for i in range(2)
    ]
    times = time_calls(lambda src, dst: dst.copy_(src), pairs, device=device, warmup=2, min_runs=5, budget_s=budget_s)
    return 2 * nbytes / statistics.median(times)


def floor_seconds(bytes_moved: int, bandwidth: float) -> float:
    """The bandwidth floor: the time to move ``bytes_moved`` (read once + write once) at ``bandwidth`` bytes/s."""
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0 bytes/s, got {bandwidth}")
    return bytes_moved / bandwidth


def floor_fraction(bytes_moved: int, seconds: float, bandwidth: float) -> float:
    """Fraction of the floor reached: ``floor_s / seconds`` (1.0 = as fast as a copy of the same bytes)."""
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    return floor_seconds(bytes_moved, bandwidth) / seconds


def row_metrics(items: int, bytes_moved: int, seconds: float, bandwidth: float) -> dict[str, float]:
    """Throughput (items/s), effective GB/s (1e9 bytes), floor seconds, floor fraction and x-floor of one row."""
    floor = floor_seconds(bytes_moved, bandwidth)
    return {
        "items_per_s": items / seconds,
        "effective_gbps": bytes_moved / seconds / 1e9,
        "floor_s": floor,
        "floor_fraction": floor / seconds,
        "x_floor": seconds / floor,
    }

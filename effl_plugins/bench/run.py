"""One benchmark run: measure the device's copy bandwidth, run the cases, write JSON, report."""

from __future__ import annotations

import dataclasses
import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["run_bench", "run_and_report", "BENCHES", "EXTRA_BENCHES", "default_out_dir"]

BENCHES = ("augment", "loss", "data")
#: benches run by name only (``effl bench --only NAME``, not a plain ``effl bench``): the batch ops and KD on the
#: small cases
EXTRA_BENCHES = ("augment-small", "loss-small")


def default_out_dir() -> Path:
    """``./effl-bench`` in the current directory: results never go into the installed package or its checkout."""
    return Path.cwd() / "effl-bench"


def _runner(bench: str) -> Callable[..., None]:
    if bench == "augment":
        from .augment import run_augment_bench

        return run_augment_bench
    if bench == "augment-small":
        from .augment import run_small_augment_bench

        return run_small_augment_bench
    if bench == "data":
        from .data import run_data_bench

        return run_data_bench
    if bench == "loss-small":
        from .loss import run_small_loss_bench

        return run_small_loss_bench
    from .loss import run_loss_bench

    return run_loss_bench


def run_bench(
    bench: str,
    *,
    quick: bool = False,
    device: str = "cpu",
    out_dir: str | Path | None = None,
    threads: int | None = None,
    verbose: bool = True,
    row_seconds: float | None = None,
    **case_options: Any,
) -> Path:
    """Run ``bench`` ("augment", "loss", "data", "augment-small" or "loss-small") and write
    ``<out>/<bench>-<device>-torch<ver>.json``; returns its path.

    ``case_options`` go to the bench (``cases=``, ``ops=``/``losses=``) to run a chosen subset; ``row_seconds``
    replaces the timing budget of each row (1 s, ``quick``: 0.3 s).
    """
    if bench not in BENCHES + EXTRA_BENCHES:
        raise ValueError(f"bench must be one of {BENCHES + EXTRA_BENCHES}, got {bench!r}")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import torch

    from .recorder import Budget, Recorder
    from .results import new_document, write_document
    from .timing import copy_bandwidth

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device; use --device cpu")
    if threads:
        torch.set_num_threads(threads)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    bandwidth = copy_bandwidth(device, budget_s=0.3 if quick else 1.0)
    doc = new_document(bench, device, quick=quick, bandwidth=bandwidth, started=started)
    if verbose:
        print(
            f"[{bench}] {doc['device_name']} torch {doc['torch']}, {doc['threads']} threads, copy bandwidth "
            f"{bandwidth / 1e9:.2f} GB/s",
            flush=True,
        )
    budget = Budget.for_run(quick)
    if row_seconds is not None:
        budget = dataclasses.replace(budget, budget_s=float(row_seconds))
    _runner(bench)(Recorder(doc, device, budget, verbose=verbose), quick=quick, **case_options)
    doc["wall_s"] = time.perf_counter() - clock
    doc["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else []
    return write_document(out_dir or default_out_dir(), doc)


def run_and_report(bench: str, out_dir: str | Path, **options: Any) -> Path:
    """:func:`run_bench` of ``bench`` into ``out_dir``, then ``out_dir/RESULTS.md`` regenerated from what is there;
    prints both paths (a benchmark script's one run). Returns the JSON document's path."""
    from .report import write_report

    path = run_bench(bench, out_dir=out_dir, **options)
    print(f"wrote {path}")
    print(f"wrote {write_report(Path(out_dir), Path(out_dir) / 'RESULTS.md')}")
    return path

"""Collects the rows of one run: times a callable, derives the metrics, prints the measurement.

A peer that is not installed or fails on a case becomes a ``skipped`` entry with its reason
instead of stopping the run.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from .timing import Measurement, row_metrics, time_calls

__all__ = ["Budget", "Recorder", "case_label"]


@dataclass(frozen=True)
class Budget:
    """How hard to time each row: warm-up calls, least runs, seconds per row, most runs."""

    warmup: int = 2
    min_runs: int = 5
    budget_s: float = 1.0
    max_runs: int = 100

    @classmethod
    def for_run(cls, quick: bool) -> "Budget":
        return cls(warmup=1, min_runs=5, budget_s=0.3, max_runs=30) if quick else cls()


def case_label(case: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in case.items())


class Recorder:
    def __init__(self, doc: dict[str, Any], device: torch.device | str, budget: Budget, *, verbose: bool = True):
        self.doc = doc
        self.device = torch.device(device)
        self.budget = budget
        self.bandwidth = doc["copy_bandwidth_gbps"] * 1e9
        self.verbose = verbose

    def skip(self, op: str, impl: str, case: dict[str, Any], reason: str) -> None:
        self.doc["skipped"].append({"op": op, "impl": impl, "case_label": case_label(case), "reason": reason[:300]})
        if self.verbose:
            print(f"  skipped {op} / {impl} [{case_label(case)}]: {reason[:200]}", file=sys.stderr)

    def measure(self, *, op: str, impl: str, semantics: str, mode: str, case: dict[str, Any], items: int, nbytes: int,
                fn: Callable[..., Any], inputs: Sequence[tuple], note: str = "", budget: Budget | None = None) -> dict | None:
        """Time ``fn`` over the rotating ``inputs`` and append the row; failures become skips."""
        budget = budget or self.budget
        try:
            times = time_calls(fn, inputs, device=self.device, warmup=budget.warmup, min_runs=budget.min_runs,
                               max_runs=budget.max_runs, budget_s=budget.budget_s)
        except Exception as exc:  # a peer that cannot run this case
            self.skip(op, impl, case, f"{type(exc).__name__}: {exc}")
            if self.verbose > 1:
                traceback.print_exc()
            return None
        measurement = Measurement(f"{self.doc['bench']}/{op} [{case_label(case)}]", f"{impl} ({semantics}, {mode})", times)
        row = {
            "op": op, "impl": impl, "semantics": semantics, "mode": mode, "case": dict(case), "case_label": case_label(case),
            "median_s": measurement.median, "iqr_s": measurement.iqr, "runs": len(times), "items": int(items), "bytes": int(nbytes),
            **row_metrics(items, nbytes, measurement.median, self.bandwidth), "note": note,
        }
        self.doc["rows"].append(row)
        if self.verbose:
            print(measurement, f"\n  {row['items_per_s']:.1f} items/s, {row['effective_gbps']:.2f} GB/s, "
                  f"{100 * row['floor_fraction']:.1f}% of floor", flush=True)
        return row

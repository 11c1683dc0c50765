"""Collects the rows of one run: times a callable, derives the metrics, prints the measurement.

A peer that is not installed or fails on a case becomes a ``skipped`` entry with its reason
instead of stopping the run. Rows that are compared with each other (ours and its peers on one
case) are timed round-robin by ``measure_group``, so a burst of load from other processes lands
on all of them rather than on whichever row happened to run then.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from .timing import Measurement, row_metrics, time_calls, time_interleaved

__all__ = ["Budget", "Recorder", "case_label", "error_reason"]

T = TypeVar("T")


@dataclass(frozen=True)
class Budget:
    """How hard to time each row: warm-up calls, least runs, seconds per row, most runs."""

    warmup: int = 2
    min_runs: int = 5
    budget_s: float = 1.0
    max_runs: int = 100

    @classmethod
    def for_run(cls, quick: bool) -> Budget:
        return cls(warmup=1, min_runs=5, budget_s=0.3, max_runs=30) if quick else cls()


def case_label(case: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in case.items())


def error_reason(exc: BaseException) -> str:
    """A skipped row's reason for an error: ``"TypeName: message"``."""
    return f"{type(exc).__name__}: {exc}"


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

    def build(self, op: str, impl: str, case: dict[str, Any], factory: Callable[[], T]) -> T | None:
        """``factory()``, a row's subject or peer; None after a skip naming the error (a library missing
        here, or an op it cannot build for this case)."""
        try:
            return factory()
        except Exception as exc:
            self.skip(op, impl, case, error_reason(exc))
            return None

    def measure(self, **spec: Any) -> dict | None:
        """Time one row (``op, impl, semantics, mode, case, items, nbytes, fn, inputs[, note]``)."""
        return self.measure_group([spec])[0]

    def measure_group(self, specs: Sequence[dict[str, Any]]) -> list[dict | None]:
        """Time rows that will be compared (ours and its peers on one case) round-robin, so that
        other processes' load falls on all of them alike; rows whose callable fails become skips."""
        budget = self.budget
        runnable = []
        for spec in specs:
            try:  # a peer that cannot run this case is found out before the shared timing loop
                time_calls(spec["fn"], spec["inputs"], device=self.device, warmup=1, min_runs=0, max_runs=0)
                runnable.append(spec)
            except Exception as exc:
                self.skip(spec["op"], spec["impl"], spec["case"], error_reason(exc))
                if self.verbose > 1:
                    traceback.print_exc()
        if not runnable:
            return [None] * len(specs)
        all_times = time_interleaved(
            [(spec["fn"], spec["inputs"]) for spec in runnable],
            device=self.device,
            warmup=max(0, budget.warmup - 1),
            min_runs=budget.min_runs,
            max_runs=budget.max_runs,
            budget_s=budget.budget_s,
        )
        rows = {id(spec): self._row(spec, times) for spec, times in zip(runnable, all_times)}
        return [rows.get(id(spec)) for spec in specs]

    def _row(self, spec: dict[str, Any], times: list[float]) -> dict:
        case = spec["case"]
        measurement = Measurement(
            f"{self.doc['bench']}/{spec['op']} [{case_label(case)}]",
            f"{spec['impl']} ({spec['semantics']}, {spec['mode']})",
            times,
        )
        row = {
            "op": spec["op"],
            "impl": spec["impl"],
            "semantics": spec["semantics"],
            "mode": spec["mode"],
            "case": dict(case),
            "case_label": case_label(case),
            "median_s": measurement.median,
            "iqr_s": measurement.iqr,
            "runs": len(times),
            "items": int(spec["items"]),
            "bytes": int(spec["nbytes"]),
            **row_metrics(spec["items"], spec["nbytes"], measurement.median, self.bandwidth),
            "note": spec.get("note", ""),
        }
        self.doc["rows"].append(row)
        if self.verbose:
            print(
                measurement,
                f"\n  {row['items_per_s']:.1f} items/s, {row['effective_gbps']:.2f} GB/s, "
                f"{100 * row['floor_fraction']:.1f}% of floor",
                flush=True,
            )
        return row

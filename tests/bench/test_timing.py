"""Benchmark harness arithmetic: floor, fractions, buffer rotation, summary statistics, call counting."""

from __future__ import annotations

import pytest
import torch

from effl_plugins.bench import timing


def test_floor_and_fraction_are_bytes_over_bandwidth():
    assert timing.floor_seconds(3_000_000_000, 1.5e9) == pytest.approx(2.0)
    assert timing.floor_fraction(3_000_000_000, 4.0, 1.5e9) == pytest.approx(0.5)
    metrics = timing.row_metrics(items=256, bytes_moved=2_000_000_000, seconds=0.5, bandwidth=1e10)
    assert metrics == pytest.approx(
        {"items_per_s": 512.0, "effective_gbps": 4.0, "floor_s": 0.2, "floor_fraction": 0.4, "x_floor": 2.5}
    )


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="bandwidth"):
        timing.floor_seconds(10, 0)
    with pytest.raises(ValueError, match="seconds"):
        timing.floor_fraction(10, 0.0, 1e9)
    with pytest.raises(ValueError, match="bytes_per_call"):
        timing.rotation_count(0, 1 << 20)
    with pytest.raises(ValueError, match="inputs"):
        timing.time_calls(lambda: None, [])


@pytest.mark.parametrize(
    "per_call,cache,expected",
    [(1 << 20, 32 << 20, 8), (16 << 20, 32 << 20, 4), (100 << 20, 32 << 20, 1), (10 << 20, 16 << 20, 4)],
)
def test_rotation_covers_twice_the_cache_within_bounds(per_call, cache, expected):
    assert timing.rotation_count(per_call, cache) == expected


def test_measurement_median_and_iqr():
    m = timing.Measurement("op", "impl", [5.0, 1.0, 3.0, 2.0, 4.0])
    assert m.median == 3.0
    assert m.iqr == pytest.approx(4.5 - 1.5)  # exclusive quartiles of 1..5
    assert "Median: 3000.000 ms" in str(m) and "5 measurements" in str(m)


def test_time_calls_warms_up_then_cycles_through_every_buffer():
    seen = []
    inputs = [(i,) for i in range(3)]
    times = timing.time_calls(seen.append, inputs, warmup=2, min_runs=7, max_runs=7, budget_s=0.0)
    assert len(times) == 7 and all(t >= 0 for t in times)
    assert seen == [0, 1, 2, 0, 1, 2, 0, 1, 2]


def test_copy_bandwidth_is_positive_and_finite():
    bandwidth = timing.copy_bandwidth("cpu", nbytes=1 << 20, budget_s=0.0)
    assert 0 < bandwidth < float("inf")
    assert timing.cache_bytes("cpu") > 0
    assert isinstance(torch.get_num_threads(), int)


def test_interleaved_timing_alternates_candidates_and_rotates_inputs():
    seen = []
    runs = timing.time_interleaved(
        [(lambda x: seen.append(("a", x)), [(0,), (1,)]), (lambda x: seen.append(("b", x)), [(5,)])],
        warmup=1,
        min_runs=3,
        max_runs=3,
        budget_s=0.0,
    )
    assert [len(r) for r in runs] == [3, 3]
    assert seen == [("a", 0), ("b", 5), ("a", 0), ("b", 5), ("a", 1), ("b", 5), ("a", 0), ("b", 5)]
    with pytest.raises(ValueError, match="candidates"):
        timing.time_interleaved([])

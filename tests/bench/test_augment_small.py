"""The small augmentation cases (batch 1, 8, 56 of 32 px): case list, the ``augment-small`` run and the per-call
fixed cost (intercept of time against batch size) in the report."""

from __future__ import annotations

import json

import pytest

from effl_plugins.bench.augment import SMALL_CASES, augment_cases
from effl_plugins.bench.report import fixed_cost_markdown, fixed_costs, render_markdown, targets
from effl_plugins.bench.run import run_bench
from tests.bench.test_results_and_run import document, row


def _rows(op, impl, fixed_s, per_image_s, dtype="uint8"):
    out = []
    for batch in (1, 8, 56):
        case = {"batch": batch, "size": 32, "dtype": dtype}
        median = fixed_s + per_image_s * batch
        out.append(
            row(
                op=op,
                impl=impl,
                mode="batch",
                semantics="per-sample",
                case=case,
                case_label=f"batch={batch} size=32 dtype={dtype}",
                median_s=median,
                items=batch,
                items_per_s=batch / median,
            )
        )
    return out


def test_full_run_has_the_small_cases_and_quick_does_not():
    full, quick = augment_cases(False), augment_cases(True)
    for case in SMALL_CASES:
        assert case in full and case not in quick
    assert {(c["batch"], c["size"], c["dtype"]) for c in SMALL_CASES} >= {
        (b, 32, d) for b in (1, 8, 56) for d in ("uint8", "float32")
    }


def test_fixed_cost_is_the_intercept_of_time_against_batch_size():
    doc = document(
        _rows("rand_augment", "effl", 3e-4, 2e-5)
        + _rows("rand_augment", "kornia", 1e-3, 1e-5)
        + _rows("rand_augment", "torchvision v2 per-image loop", 1e-5, 3e-4)
    )
    doc["bench"] = "augment-small"
    fits = {f["impl"]: f for f in fixed_costs(doc)}
    assert fits["effl"]["intercept_s"] == pytest.approx(3e-4)
    assert fits["effl"]["slope_s"] == pytest.approx(2e-5)
    assert fits["kornia"]["intercept_s"] == pytest.approx(1e-3)
    table = "\n".join(fixed_cost_markdown(doc))
    assert "| rand_augment | 1/8/56 x 32 px uint8 |" in table and "0.300" in table and "1.000" in table
    assert "Per-call fixed cost" in render_markdown([doc])
    met = {t["target"]: t for t in targets([doc]) if t["ratio"] is not None}
    assert met["CPU batch RandAugment N=2 M=9, 8x3x32x32 uint8 >= 1x kornia"]["met"]  # 0.46 ms against 1.08 ms
    assert met["CPU batch RandAugment N=2 M=9, 56x3x32x32 uint8 >= 1x the torchvision loop"]["met"]


def test_small_run_writes_its_own_document(tmp_path):
    path = run_bench("augment-small", out_dir=tmp_path, verbose=False, row_seconds=0.01, ops=["invert"])
    assert path.name.startswith("augment-small-cpu-")
    doc = json.loads(path.read_text())
    assert doc["bench"] == "augment-small"
    cases = {(r["case"]["batch"], r["case"]["size"], r["case"]["dtype"]) for r in doc["rows"] if r["impl"] == "effl"}
    assert cases == {(c["batch"], c["size"], c["dtype"]) for c in SMALL_CASES}
    assert all(r["mode"] == "batch" for r in doc["rows"])
    assert fixed_costs(doc)


def test_effl_bench_only_runs_the_small_cases_of_the_ops_named(tmp_path):
    from effl_plugins.cli import main

    assert (
        main(["bench", "--only", "augment-small", "--ops", "invert", "--row-seconds", "0.01", "--out", str(tmp_path)])
        == 0
    )
    [path] = tmp_path.glob("*-cpu-torch*.json")
    doc = json.loads(path.read_text())
    assert doc["bench"] == "augment-small" and {r["op"] for r in doc["rows"]} == {"invert"}
    assert (tmp_path / "RESULTS.md").is_file()

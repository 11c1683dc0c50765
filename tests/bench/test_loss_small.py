"""KD at small sizes (batch 64 and 256, 10 to 21843 classes): the case list, the ``loss-small`` run and its
targets in the report."""

from __future__ import annotations

import json

from effl_plugins.bench.loss import SMALL_CASES
from effl_plugins.bench.report import render_markdown, targets
from effl_plugins.bench.run import EXTRA_BENCHES, run_bench
from tests.bench.test_results_and_run import document, row


def test_small_cases_are_the_kd_targets_shapes():
    assert {(c["batch"], c["classes"], c["dtype"]) for c in SMALL_CASES} == {
        (b, c, "float32") for b in (64, 256) for c in (10, 100, 1000, 21843)
    }
    assert "loss-small" in EXTRA_BENCHES


def _kd_rows(case, effl_s, eager_s):
    label = " ".join(f"{k}={v}" for k, v in case.items())
    return [
        row(case=dict(case), case_label=label, impl=impl, median_s=median, items_per_s=case["batch"] / median)
        for impl, median in (("effl", effl_s), ("eager reference", eager_s))
    ]


def test_report_lists_a_target_per_small_case_1x_to_100_classes_and_2x_from_1000():
    rows = []
    for case in SMALL_CASES:
        rows += _kd_rows(case, 1.0, 1.5)  # 1.5x everywhere: met up to 100 classes, not from 1000
    doc = document(rows)
    doc["bench"] = "loss-small"
    found = {t["target"]: t for t in targets([doc])}
    for case in SMALL_CASES:
        required = 1 if case["classes"] <= 100 else 2
        name = f"CPU KD fwd+bwd B={case['batch']} C={case['classes']} >= {required}x eager"
        assert found[name]["required"] == required
        assert abs(found[name]["ratio"] - 1.5) < 1e-12 and found[name]["met"] == (required == 1)
    text = render_markdown([doc])
    assert "| CPU KD fwd+bwd B=64 C=1000 >= 2x eager | 2.0x | 1.50x | **no** (0.75 of required) |" in text
    assert "| CPU KD fwd+bwd B=256 C=10 >= 1x eager | 1.0x | 1.50x | yes |" in text
    assert "## loss-small on cpu (x86_64), torch 2.14.1, small-case run" in text


def test_small_run_writes_its_own_document_and_the_report_lists_its_target(tmp_path):
    case = {"batch": 64, "classes": 10, "dtype": "float32"}
    path = run_bench("loss-small", out_dir=tmp_path, verbose=False, row_seconds=0.01, cases=[case])
    assert path.name.startswith("loss-small-cpu-")
    doc = json.loads(path.read_text())
    assert doc["bench"] == "loss-small" and not doc["skipped"]
    assert {(r["op"], r["impl"], r["mode"]) for r in doc["rows"]} == {
        ("kd", impl, mode) for impl in ("effl", "eager reference") for mode in ("fwd", "fwd+bwd")
    }
    assert all(r["case"] == case for r in doc["rows"])
    measured = [t for t in targets([doc]) if t["ratio"] is not None]
    assert [t["target"] for t in measured] == ["CPU KD fwd+bwd B=64 C=10 >= 1x eager"]
    assert "CPU KD fwd+bwd B=64 C=10 >= 1x eager" in render_markdown([doc])

"""Result schema, file naming, tiny end-to-end benchmark runs that write JSON, the report and the command."""

from __future__ import annotations

import json

import pytest

from effl_plugins.bench import results
from effl_plugins.bench.report import render_markdown, targets, write_report
from effl_plugins.bench.run import run_bench
from effl_plugins.cli import main as effl


def row(**overrides):
    base = {
        "op": "kd",
        "impl": "effl",
        "semantics": "deterministic",
        "mode": "fwd+bwd",
        "case": {"batch": 1024, "classes": 1000, "dtype": "float32"},
        "case_label": "batch=1024 classes=1000 dtype=float32",
        "median_s": 0.01,
        "iqr_s": 0.001,
        "runs": 5,
        "items": 1024,
        "bytes": 12_288_000,
        "items_per_s": 102400.0,
        "effective_gbps": 1.2288,
        "floor_s": 0.001,
        "floor_fraction": 0.1,
        "x_floor": 10.0,
        "note": "",
    }
    return {**base, **overrides}


def document(rows):
    return {
        "schema": results.SCHEMA,
        "bench": "loss",
        "device": "cpu",
        "device_name": "x86_64",
        "torch": "2.14.1",
        "threads": 2,
        "quick": True,
        "copy_bandwidth_gbps": 10.0,
        "started": "2026-01-01T00:00:00+00:00",
        "wall_s": 1.0,
        "rows": rows,
        "skipped": [],
    }


def test_schema_accepts_a_document_and_names_the_broken_field():
    doc = document([row()])
    assert results.validate(doc) is doc
    with pytest.raises(ValueError, match="'median_s'"):
        results.validate(document([{k: v for k, v in row().items() if k != "median_s"}]))
    with pytest.raises(ValueError, match="semantics"):
        results.validate(document([row(semantics="sometimes")]))
    with pytest.raises(ValueError, match="'runs' must be int"):
        results.validate(document([row(runs=2.5)]))
    with pytest.raises(ValueError, match="schema"):
        results.validate({**doc, "schema": "other/0"})


def test_file_names_carry_bench_device_and_torch_version(tmp_path):
    doc = document([row()])
    path = results.write_document(tmp_path, doc)
    assert path.name == "loss-cpu-torch2.14.1.json"
    assert results.result_path(tmp_path, doc, "png").name == "loss-cpu.png"
    assert results.load_documents(tmp_path) == [json.loads(path.read_text())]


def test_targets_are_ratios_of_rows_in_one_run():
    doc = document([row(), row(impl="eager reference", items_per_s=51200.0)])
    (kd,) = targets([doc])
    assert kd["ratio"] == pytest.approx(2.0) and kd["met"] is True
    slow = document([row(items_per_s=51200.0), row(impl="eager reference", items_per_s=51200.0)])
    assert targets([slow])[0]["met"] is False
    text = render_markdown([slow])
    assert "**no** (0.67 of required)" in text and "No GPU rows" in text and "| semantics |" in text


def test_loss_bench_on_a_tiny_case_writes_valid_json(tmp_path):
    path = run_bench(
        "loss",
        quick=True,
        out_dir=tmp_path,
        verbose=False,
        cases=[{"batch": 8, "classes": 10, "dtype": "float32"}],
        losses=["kd", "no_such_loss"],
    )
    doc = results.validate(json.loads(path.read_text()))
    assert {(r["impl"], r["mode"]) for r in doc["rows"]} == {
        (i, m) for i in ("effl", "eager reference") for m in ("fwd", "fwd+bwd")
    }
    assert all(r["bytes"] == (3 if r["mode"] == "fwd+bwd" else 2) * 8 * 10 * 4 for r in doc["rows"])
    assert doc["skipped"] and doc["skipped"][0]["op"] == "no_such_loss"


def test_augment_bench_on_a_tiny_case_has_peers_semantics_and_a_report(tmp_path):
    path = run_bench(
        "augment",
        quick=True,
        out_dir=tmp_path / "results",
        verbose=False,
        cases=[{"batch": 2, "size": 16, "dtype": "uint8"}],
        ops=["brightness"],
        target_case=False,
        image_images=2,
    )
    doc = results.validate(json.loads(path.read_text()))
    semantics = {r["impl"]: r["semantics"] for r in doc["rows"]}
    assert semantics["effl"] == "per-sample" and semantics["torchvision v2 batch call"] == "per-batch"
    assert semantics["torchvision v2 per-image loop"] == "per-sample" and semantics["kornia"] == "per-sample"
    assert semantics["effl image"] == "per-image" and semantics["albumentations"] == "per-image"
    markdown = write_report(tmp_path / "results", tmp_path / "RESULTS.md")
    assert "brightness" in markdown.read_text() and (tmp_path / "results" / "augment-cpu.png").stat().st_size > 1000


def test_command_rejects_bad_arguments(capsys):
    assert effl(["bench", "--device", "tpu"]) == 2
    assert "--device" in capsys.readouterr().err
    with pytest.raises(ValueError, match="bench must be one of"):
        run_bench("optimizers")


def test_a_json_report_is_written_whole_through_a_temporary_file(tmp_path, monkeypatch):
    import json

    from effl_plugins.bench.results import write_json_report

    path = write_json_report(tmp_path / "bench.json", {"rows": [1, 2]})
    assert json.loads(path.read_text()) == {"rows": [1, 2]} and path.read_text().endswith("\n")

    def fail(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    from effl_plugins.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"cannot write .*bench\.json': disk full"):
        write_json_report(path, {"rows": [3]})
    assert json.loads(path.read_text()) == {"rows": [1, 2]}  # the previous report stands
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]  # no temporary file left


def test_a_published_report_is_written_and_shown(tmp_path, capsys):
    import json

    from effl_plugins.bench.results import publish_json_report

    path = publish_json_report(tmp_path / "bench.json", {"rows": [1]})
    shown = capsys.readouterr()
    assert json.loads(path.read_text()) == json.loads(shown.out) == {"rows": [1]}
    assert shown.err == f"written to {path}\n"

"""The data-loading benchmark: a tiny run writes schema-valid rows for both loaders and every step."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm.data  # noqa: F401 (import cost at collection)

from effl_plugins.bench import results
from effl_plugins.bench.data import PIPELINE, breakdown_markdown, make_jpeg_folder
from effl_plugins.bench.report import targets
from effl_plugins.bench.run import run_bench
from effl_plugins.data import decode_image


def test_generated_folder_holds_photo_sized_jpegs(tmp_path):
    root = make_jpeg_folder(tmp_path, 8, classes=2)
    files = sorted((root / "train").rglob("*.jpg"))
    assert len(files) == 8 and {p.parent.name for p in files} == {"c0", "c1"}
    shapes = [decode_image(p.read_bytes(), str(p)).shape for p in files]
    assert all(h in (375, 500) and 355 <= w <= 520 and w != h for h, w, _ in shapes)
    assert sum(h > w for h, w, _ in shapes) == 2  # every 4th image is portrait
    assert np.std(decode_image(files[0].read_bytes(), "x")) > 20  # photo content, not a flat field


@pytest.mark.slow
def test_tiny_data_bench_writes_both_loaders_and_the_steps(tmp_path):
    case = {"images": 12, "size": 224, "batch": 64, "workers": 0}
    path = run_bench("data", quick=True, out_dir=tmp_path, verbose=False, cases=[case])
    doc = results.validate(json.loads(path.read_text()))
    rows = {(r["op"], r["impl"], r["mode"]) for r in doc["rows"]}
    assert {(PIPELINE, "effl", "loader"), (PIPELINE, "timm", "loader")} <= rows
    for op in ("decode", "random_resized_crop+flip", "rand_augment", "to_tensor+collate"):
        assert {(op, "effl image", "stage"), (op, "timm PIL", "stage")} <= rows
    assert doc["skipped"] == []
    found = [t for t in targets([doc]) if "loader" in t["target"]]
    assert len(found) == 1 and found[0]["ratio"] > 0
    table = [line for line in breakdown_markdown(doc) if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in table[1:]] == [
        "| decode",
        "| random_resized_crop+flip",
        "| rand_augment",
        "| to_tensor+collate",
        "| total",
    ]
    assert table[-1].split(" | ")[2] == "100%"

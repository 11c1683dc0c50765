"""``effl pseudo-label`` under a real ``torchrun`` with two gloo processes: each rank labels its share,
the store merges them into exactly what one process writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import timm
import torch

from effl_plugins.strategies.selftrain.store import read_store


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_two_rank_labelling_equals_one_process(tmp_path):
    checkpoint = tmp_path / "teacher.pt"
    torch.save(timm.create_model("test_resnet", num_classes=10).state_dict(), checkpoint)
    args = [
        "pseudo-label",
        "--teacher",
        f"test_resnet:{checkpoint}",
        "--unlabeled",
        "digits",
        "--shard-size",
        "256",
        "--threshold",
        "0.1",
        "--img-size",
        "32",  # the digits are 8x8: test_resnet's own 160 px would only cost time
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run(
        [sys.executable, "-m", "effl_plugins.cli", *args, "--out", str(tmp_path / "single")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr
    ranks = subprocess.run(
        ["torchrun", "--nproc_per_node=2", "-m", "effl_plugins.cli", *args, "--out", str(tmp_path / "ranks")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ranks.returncode == 0, ranks.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "ranks").glob("manifest-rank*.json")) == [
        "manifest-rank00000.json",
        "manifest-rank00001.json",
    ]
    one, two = read_store(tmp_path / "single", trust_ids=True), read_store(tmp_path / "ranks", trust_ids=True)
    assert sorted(one.ids) == sorted(two.ids) and len(set(two.ids)) == len(two.ids) == 1337
    order_one = {i: k for k, i in enumerate(one.ids)}
    order_two = [order_one[i] for i in two.ids]
    torch.testing.assert_close(two.probs, one.probs[order_two], rtol=1e-5, atol=1e-6)
    selections = [json.loads((tmp_path / name / "selection.json").read_text()) for name in ("single", "ranks")]
    assert sorted(zip(selections[0]["ids"], selections[0]["labels"])) == sorted(
        zip(selections[1]["ids"], selections[1]["labels"])
    )

"""Training on WebDataset shards through the ``effl`` command, at 1 and 2 ranks (torchrun, gloo on
loopback): every training sample is read exactly once per epoch across ranks and DataLoader workers
(``stream_probe.py`` logs each read as ``epoch key``), distillation, FixMatch and the pseudo-label store
run on shards and key their rows by the samples' keys."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("webdataset")

from ..data.shard_helpers import write_shards  # noqa: E402

PROBE = str(Path(__file__).with_name("stream_probe.py"))
TRAIN, VAL, UNLABELED = [40, 37, 23], [30], [50, 33]  # 100 labeled, 83 unlabeled: no shard split is even
COMMON = ["--epochs", "2", "-b", "16", "--device", "cpu", "--log-interval", "0"]
TIMEOUT = 420


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("shards")
    keys = write_shards(root, "train", TRAIN)
    write_shards(root, "val", VAL, offset=200)
    unlabeled = write_shards(root, "unl", UNLABELED, offset=300, labeled=False)
    data = ["--data", f"wds/{root}", "--train-split", "train-{0000..0002}.tar", "--val-split", "val-0000.tar"]
    return {"root": root, "keys": keys, "unlabeled": unlabeled, "data": data, "unl": f"wds/{root}/unl-*.tar"}


def run(effl: list[str], out: Path, ranks: int, workers: int = 1) -> collections.Counter:
    """``effl EFFL --out OUT`` at ``ranks`` processes; the ``(epoch, key)`` reads of every rank and worker."""
    log = out.parent / f"{out.name}.reads"
    launcher = [sys.executable]
    if ranks > 1:
        launcher = [shutil.which("torchrun"), "--standalone", f"--nproc_per_node={ranks}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    command = [*launcher, PROBE, str(log), *effl, "-j", str(workers), "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    reads: collections.Counter = collections.Counter()
    for path in out.parent.glob(f"{log.name}.*"):
        for line in path.read_text().splitlines():
            epoch, key = line.split(" ", 1)
            reads[int(epoch), key] += 1
    return reads


def once_per_epoch(reads: collections.Counter, keys: list[str], epochs: int) -> None:
    """Each of ``keys`` read exactly once in each of ``epochs`` epochs."""
    wanted = set(keys)
    got = {(e, k): n for (e, k), n in reads.items() if k in wanted}
    assert got == {(e, k): 1 for e in range(epochs) for k in keys}


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_finetune_reads_every_sample_once_per_epoch(tmp_path, shards, ranks):
    reads = run(["finetune", "--model", "test_resnet", *shards["data"], *COMMON], tmp_path / "run", ranks, workers=2)
    once_per_epoch(reads, shards["keys"], epochs=2)
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert checkpoint["num_classes"] == 10 and checkpoint["class_names"] == [str(c) for c in range(10)]

"""Training on WebDataset shards and a saved Hugging Face dataset through the ``effl`` command, at 1 and 2
ranks (torchrun, gloo on loopback): every training sample is read exactly once per epoch across ranks and
DataLoader workers (``stream_probe.py`` logs each read as ``epoch key``); finetuning, distillation,
FixMatch and pseudo-labelling run on shards, the pseudo-label store keyed by the samples' keys; a
mid-epoch resume reads exactly the unread samples, one on changed shards is refused, and so is a teacher
cache."""

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
pytestmark = pytest.mark.slow  # end-to-end runs through the command, each up to a minute

from ..data.shard_helpers import hf_digits, write_shards  # noqa: E402

PROBE = str(Path(__file__).with_name("stream_probe.py"))
TRAIN, VAL, UNLABELED = [40, 37, 23], [30], [50, 33]  # 100 labeled, 83 unlabeled: no shard split is even
#: every run's flags; 32 px: what these tests count (reads, keys, resumes) does not depend on test_resnet's 160 px
COMMON = ["--epochs", "2", "-b", "16", "--device", "cpu", "--log-interval", "0", "--img-size", "32"]
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
        if shutil.which("torchrun") is None:
            pytest.skip("torchrun is not on PATH")
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


@pytest.mark.parametrize("ranks", [1, 2])
def test_finetune_reads_every_sample_once_per_epoch(tmp_path, shards, ranks):
    reads = run(["finetune", "--model", "test_resnet", *shards["data"], *COMMON], tmp_path / "run", ranks, workers=2)
    once_per_epoch(reads, shards["keys"], epochs=2)
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert checkpoint["num_classes"] == 10 and checkpoint["class_names"] == [str(c) for c in range(10)]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, shards) -> str:
    """``test_resnet:CKPT``: a teacher finetuned for one epoch on the shards."""
    from effl_plugins.cli import main

    out = tmp_path_factory.mktemp("teacher") / "run"
    flags = [*shards["data"], *COMMON, "--epochs", "1", "-j", "0", "--out", str(out)]
    assert main(["finetune", "--model", "test_resnet", *flags]) == 0
    return f"test_resnet:{out / 'checkpoint.pt'}"


@pytest.mark.parametrize("ranks", [1, 2])
def test_distill_on_labeled_and_unlabeled_shards_reads_each_once_per_epoch(tmp_path, shards, teacher, ranks):
    effl = ["distill", "--teacher", teacher, "--student", "test_resnet", *shards["data"], *COMMON]
    reads = run([*effl, "--epochs", "1", "--unlabeled", shards["unl"]], tmp_path / "run", ranks)
    once_per_epoch(reads, shards["keys"] + shards["unlabeled"], epochs=1)


@pytest.mark.parametrize("ranks", [1, 2])
def test_fixmatch_reads_no_unlabeled_sample_twice_in_an_epoch(tmp_path, shards, ranks):
    effl = ["self-train", "--strategy", "fixmatch", "--model", "test_resnet", *shards["data"], *COMMON]
    reads = run([*effl, "--epochs", "1", "--unlabeled", shards["unl"]], tmp_path / "run", ranks)
    unlabeled = {key: n for (epoch, key), n in reads.items() if key.startswith("unl/")}
    assert set(unlabeled.values()) == {1}
    # full batches only (FixMatch's rule): 83 on one rank; 41 of each rank's share of 41 or 42 on two
    assert len(unlabeled) == (83 if ranks == 1 else 82)


@pytest.mark.parametrize("ranks", [1, 2])
def test_the_pseudo_label_store_keys_rows_by_sample_key(tmp_path, shards, teacher, ranks):
    from effl_plugins.strategies.selftrain.store import read_store

    effl = ["pseudo-label", "--teacher", teacher, "--unlabeled", shards["unl"], "--threshold", "0.1"]
    reads = run([*effl, "--shard-size", "32"], tmp_path / "store", ranks)
    once_per_epoch(reads, shards["unlabeled"], epochs=1)
    labels = read_store(tmp_path / "store", expected_ids=shards["unlabeled"])
    assert labels.ids == shards["unlabeled"] and labels.probs.shape == (83, 10)


@pytest.mark.parametrize("ranks", [1, 2])
def test_finetune_on_a_saved_hugging_face_dataset_reads_every_row_once_per_epoch(tmp_path, ranks):
    datasets = pytest.importorskip("datasets")
    train = hf_digits(90, ids=True)
    datasets.DatasetDict({"train": train, "validation": hf_digits(20, offset=200)}).save_to_disk(str(tmp_path / "hf"))
    effl = ["finetune", "--model", "test_resnet", "--data", f"hfds/{tmp_path / 'hf'}", *COMMON]
    reads = run(effl, tmp_path / "run", ranks)
    once_per_epoch(reads, list(train["id"]), epochs=2)


# ------------------------------------------------------------------ resume


def test_a_mid_epoch_resume_reads_exactly_the_unread_samples_and_ends_on_the_same_weights(
    tmp_path, shards, monkeypatch
):
    from effl_plugins.data import build_data, resolve_data_config
    from effl_plugins.data.datasets import StreamImageDataset
    from effl_plugins.train import TrainConfig
    from effl_plugins.train.streams import Stream

    from ._helpers import assert_same_tensors, checkpoint, engine, make_task, model

    root = shards["root"]
    data = build_data(f"wds/{root}", resolve_data_config(model=model(), img_size=32), train_split="train-*.tar")
    reads: list[tuple[int, str]] = []
    read = StreamImageDataset.__getitem__
    monkeypatch.setattr(
        StreamImageDataset, "__getitem__", lambda self, i: (reads.append((self.epoch, self.ids[i])), read(self, i))[1]
    )
    settings = dict(epochs=2, batch_size=16, seed=3, device="cpu", amp="off", progress=False)
    config = TrainConfig(**settings, checkpoint_interval=1)
    run = engine(make_task("supervised", data), data, tmp_path / "straight", config)
    save = run.save_checkpoint

    def save_and_copy(best: bool = False) -> None:  # the checkpoint after step 3 of epoch 0 is a killed run's
        save(best=best)
        if (run.epoch, run.step) == (0, 3):
            (tmp_path / "killed").mkdir()
            (tmp_path / "killed" / "checkpoint.pt").write_bytes(run.checkpoint_path.read_bytes())

    run.save_checkpoint = save_and_copy
    run.fit()
    reads.clear()
    engine(make_task("supervised", data), data, tmp_path / "killed", config).fit(resume=True)
    assert_same_tensors(checkpoint(tmp_path / "straight")["model"], checkpoint(tmp_path / "killed")["model"])
    resumed = collections.Counter((e, k) for e, k in reads if k.startswith("train/"))
    done = [data.labeled.ids[i] for b in Stream(100, 16, seed=3, exactly_once=True).batches(0, 3) for i, _ in b]
    assert sorted(k for e, k in resumed if e == 0) == sorted(set(shards["keys"]) - set(done))
    assert set(resumed.values()) == {1} and sum(e == 1 for e, _ in resumed) == 100


def test_a_resume_on_changed_shards_is_refused(tmp_path, shards, capsys):
    from effl_plugins.cli import main

    root = tmp_path / "shards"
    shutil.copytree(shards["root"], root)
    flags = ["--data", f"wds/{root}", "--train-split", "train-*.tar", *COMMON, "-j", "0", "--out", str(tmp_path / "r")]
    assert main(["finetune", "--model", "test_resnet", *flags, "--epochs", "1"]) == 0
    write_shards(root, "train", [10, 10, 10])  # the same shard names, other samples
    capsys.readouterr()
    assert main(["finetune", "--model", "test_resnet", *flags, "--resume"]) == 2
    assert "cannot resume: the run was made with other settings (stream:" in capsys.readouterr().err


def test_a_teacher_cache_on_shards_is_refused_in_one_line(tmp_path, shards, teacher, capsys):
    from effl_plugins.cli import main

    flags = [*shards["data"], *COMMON, "-j", "0", "--out", str(tmp_path / "cache")]
    assert main(["teacher-cache", "--teacher", teacher, "--student", "test_resnet", *flags]) == 2
    assert "--teacher-cache records folder and digits data" in capsys.readouterr().err

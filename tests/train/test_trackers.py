"""``--log tensorboard,wandb,mlflow``: each tracker's files, read back with its own reader, hold the scalars
of ``metrics.jsonl``; they stay inside ``--out`` and ``--overwrite`` removes them; a missing extra or a
folder the run did not make is refused in one line. A test skips when its tracker is not installed."""

from __future__ import annotations

import importlib.util
import json
import os
import struct

import pytest

from effl_plugins.cli import main
from effl_plugins.train import TrainConfig
from effl_plugins.train.rundir import check_run_directory
from effl_plugins.train.trackers import (
    TRACKER_FOLDERS,
    TrackerFolderError,
    TrackerUnavailableError,
    claim_folder,
    mlflow_uri,
)
from effl_plugins.written import recording

from ._helpers import records

INSTALLED = [name for name in ("tensorboard", "wandb", "mlflow") if importlib.util.find_spec(name) is not None]
FINETUNE = [
    "finetune",
    "--data",
    "digits",
    "--model",
    "test_resnet",
    "--img-size",
    "32",
    "--epochs",
    "2",
    "--warmup-epochs",
    "0",
    "--batch-size",
    "50",
    "--workers",
    "0",
    "--device",
    "cpu",
    "--log-interval",
    "1",
]
EPOCH_KEYS = ("train_loss", "eval_loss", "eval_top1", "eval_top5", "lr")


def _needs(name: str) -> None:
    if name not in INSTALLED:
        pytest.skip(f"{name} is not installed (pip install 'effl-plugins[{name}]')")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-epoch finetune logged to every installed tracker (2 steps an epoch)."""
    if not INSTALLED:
        pytest.skip("no tracker installed (pip install 'effl-plugins[tensorboard,wandb,mlflow]')")
    out = tmp_path_factory.mktemp("tracked") / "run"
    assert main([*FINETUNE, "--out", str(out), "--log", ",".join(INSTALLED), "--log", "csv"]) == 0
    return out


def test_tensorboard_holds_the_epoch_records(run):
    _needs("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    for key in EPOCH_KEYS:
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        assert logged == [(r["epoch"], pytest.approx(r[key], rel=1e-6)) for r in records(run)], key
    assert [e.step for e in events.Scalars("step/train_loss")] == [1, 2, 3, 4]
    assert all(e.value > 0 for e in events.Scalars("step/img_per_s"))


def test_mlflow_holds_the_epoch_records(run):
    _needs("mlflow")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri(run / "mlruns"))
    (found,) = client.search_runs([client.get_experiment_by_name("effl").experiment_id])
    assert found.info.status == "FINISHED" and found.data.params["command"] == "finetune"
    for key in EPOCH_KEYS:
        logged = [(m.step, m.value) for m in client.get_metric_history(found.info.run_id, key)]
        assert logged == [(r["epoch"], pytest.approx(r[key])) for r in records(run)], key
    assert [m.step for m in client.get_metric_history(found.info.run_id, "step/lr")] == [1, 2, 3, 4]


def _wandb_history(path) -> list[dict]:
    """The history rows of a W&B run file (a LevelDB-style log of ``Record`` protobufs after a 7-byte header)."""
    from wandb.proto import wandb_internal_pb2

    raw, block, position, chunks, rows = path.read_bytes(), 32768, 7, [], []
    while position + 7 <= len(raw):
        left = block - position % block
        _, length, kind = struct.unpack("<IHB", raw[position : position + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or kind == length == 0:
            position += left
            continue
        chunks.append(raw[position + 7 : position + 7 + length])
        position += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            chunks = []
            if record.WhichOneof("record_type") == "history":
                rows.append(
                    {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
                )
    return rows


def test_wandb_offline_run_holds_the_epoch_records(run):
    _needs("wandb")
    (path,) = (run / "wandb").glob("offline-run-*/run-*.wandb")
    rows = [row for row in _wandb_history(path) if "epoch" in row]
    assert [{k: row[k] for k in ("epoch", *EPOCH_KEYS)} for row in rows] == [
        {"epoch": r["epoch"], **{k: pytest.approx(r[k]) for k in EPOCH_KEYS}} for r in records(run)
    ]


def test_tracker_folders_are_recorded_and_overwrite_removes_them(run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    (tmp_path / "outside").write_text("not the run's")
    os.symlink(tmp_path / "outside", copy / TRACKER_FOLDERS[INSTALLED[0]] / "link")
    (copy / "mine").mkdir()
    listed = json.loads((copy / "written.json").read_text())["dirs"]
    assert sorted(listed) == sorted(TRACKER_FOLDERS[name] for name in INSTALLED)
    check_run_directory(copy, resume=False, overwrite=True)
    assert sorted(p.name for p in copy.iterdir() if p.name != "lock") == ["mine"]
    assert (tmp_path / "outside").read_text() == "not the run's"  # a symlink is unlinked, never followed


def test_a_folder_the_run_did_not_make_is_refused(tmp_path):
    out = tmp_path / "run"
    (out / "tensorboard").mkdir(parents=True)
    (out / "tensorboard" / "theirs").write_text("kept")
    with recording(out) as record:
        record.save()
        with pytest.raises(TrackerFolderError, match="this run did not make it"):
            claim_folder(out / "tensorboard", "tensorboard")
        made = claim_folder(out / "wandb", "wandb")
        assert made.is_dir() and "wandb" in record.dirs
        assert claim_folder(out / "wandb", "wandb") == made  # a resume takes its own folder again


def test_a_missing_extra_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(TrackerUnavailableError, match=r"pip install 'effl-plugins\[wandb\]'"):
        TrainConfig(log="csv,wandb")
    with pytest.raises(SystemExit) as exited:
        main([*FINETUNE, "--out", str(tmp_path / "run"), "--log", "wandb"])
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 2 and "\n" not in err and "pip install 'effl-plugins[wandb]'" in err
    assert not (tmp_path / "run").exists()


def test_log_names_are_checked_and_normalised():
    assert TrainConfig(log=["csv", "csv"]).log == ("csv",)
    with pytest.raises(ValueError, match="log must be one of"):
        TrainConfig(log="tensorbord")


def test_a_resumed_run_continues_each_tracker(tmp_path):
    if not INSTALLED:
        pytest.skip("no tracker installed (pip install 'effl-plugins[tensorboard,wandb,mlflow]')")
    out, argv = tmp_path / "run", [*FINETUNE, "--log-interval", "0", "--log", ",".join(INSTALLED)]
    assert main([*argv, "--epochs", "1", "--out", str(out)]) == 0
    assert main([*argv, "--epochs", "2", "--out", str(out), "--resume"]) == 0
    top1 = [r["eval_top1"] for r in records(out)]
    if "tensorboard" in INSTALLED:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(out / "tensorboard"))
        events.Reload()
        logged = [(e.step, e.value) for e in events.Scalars("eval_top1")]
        assert logged == [(1, pytest.approx(top1[0])), (2, pytest.approx(top1[1]))]
    if "mlflow" in INSTALLED:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=mlflow_uri(out / "mlruns"))
        (found,) = client.search_runs([client.get_experiment_by_name("effl").experiment_id])
        assert [m.step for m in client.get_metric_history(found.info.run_id, "eval_top1")] == [1, 2]
        assert found.info.status == "FINISHED"
    if "wandb" in INSTALLED:
        ids = {p.name.rsplit("-", 1)[-1] for p in (out / "wandb").glob("offline-run-*")}
        assert len(list((out / "wandb").glob("offline-run-*"))) == 2 and len(ids) == 1

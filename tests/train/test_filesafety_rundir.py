"""File safety of run directories and pseudo-label stores: ``--overwrite`` deletes exactly what the run
wrote and never follows a symlink, a full disk is one error line naming the file, one writer per ``--out``
and per store, and a SIGKILL in the middle of a checkpoint or manifest write resumes to the same result."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from effl_plugins.cli import main
from effl_plugins.lock import exclusive_lock, lock_holder
from effl_plugins.train.checkpoints import atomic_save, atomic_write_bytes, atomic_write_text
from effl_plugins.train.rundir import RUN_FILES, check_run_directory
from effl_plugins.written import read_record

from ._helpers import assert_same_tensors, checkpoint, records

FINETUNE = [
    "finetune",
    "--data",
    "digits",
    "--model",
    "test_resnet",
    "--img-size",
    "32",
    "--batch-size",
    "50",
    "--workers",
    "0",
    "--device",
    "cpu",
    "--warmup-epochs",
    "0",
    "--lr",
    "0.01",
]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}

#: A child process running the command line after ``hook`` (Python source) has patched something in it.
CHILD = """
import os, signal, sys, time
from pathlib import Path
{hook}
from effl_plugins.cli import main
sys.exit(main(sys.argv[1:]))
"""


def effl(*argv, hook: str = "", limit_bytes: int | None = None, cwd=None, popen: bool = False):
    """``effl ARGV`` in a child process (``hook`` patched in first; ``limit_bytes``: RLIMIT_FSIZE, a full disk)."""

    def limit():
        if limit_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    command = [sys.executable, "-c", CHILD.format(hook=textwrap.dedent(hook)), *map(str, argv)]
    kwargs = dict(cwd=cwd, env=ENV, text=True, preexec_fn=limit, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if popen:
        return subprocess.Popen(command, **kwargs)
    return subprocess.run(command, timeout=600, **kwargs)


def one_line(proc, status: int = 2) -> str:
    assert proc.returncode == status, proc.stderr[-3000:]
    notes = ("pseudo-labelling:", "resume:", "resuming from ", "epoch ")  # progress and notes are not errors
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith(notes)]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[0].startswith("effl "), lines[0]
    return lines[0]


def _is_lock(name: str) -> bool:
    """Whether ``name`` (a relative path) is a lock file: ``lock`` or a store's ``.lock-rankNNNNN``."""
    last = name.rsplit("/", 1)[-1]
    return last == "lock" or last.startswith(".lock-")


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: a file's bytes, a symlink's target, a folder as '/'."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            found[name] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[name] = "/"
        else:
            found[name] = path.read_bytes()
    return found


def temporaries(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".tmp-" in p.name]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 1-epoch finetune run (copied by each test that changes it), made in a child process like the
    runs it is compared with (same environment and thread count, so the same float rounding)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    proc = effl(*FINETUNE, "--epochs", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy, symlinks=True)
    return copy


# ---------------------------------------------------------------- --overwrite: exactly what the run wrote
def _recorded_run(out: Path) -> None:
    """A run directory with a top-level run, a sub-run and a pseudo-label store, all listed in written.json."""
    with exclusive_lock(out):
        atomic_save({"model": {}, "epoch": 1}, out / "checkpoint.pt")
        atomic_write_text(out / "summary.json", "{}\n")
        atomic_save({"model": {}, "epoch": 1}, out / "teacher" / "checkpoint.pt")
        atomic_write_text(out / "teacher" / "args.yaml", "seed: 0\n")
        with exclusive_lock(out / "round-1" / "labels", name=".lock-rank00000", what="pseudo-label store"):
            atomic_write_bytes(out / "round-1" / "labels" / "shard-r00000-00000.safetensors", b"shard")
        atomic_write_bytes(out / "round-1" / "student.safetensors", b"weights")


def test_written_json_lists_the_run_and_its_sub_runs(tmp_path):
    _recorded_run(tmp_path / "run")
    files, dirs = read_record(tmp_path / "run")
    assert files == {
        "checkpoint.pt",
        "summary.json",
        "teacher/checkpoint.pt",
        "teacher/args.yaml",
        "round-1/labels/.lock-rank00000",
        "round-1/labels/shard-r00000-00000.safetensors",
        "round-1/student.safetensors",
    }
    assert dirs == {"teacher", "round-1", "round-1/labels"}


def test_overwrite_removes_only_listed_files_and_the_folders_left_empty(tmp_path):
    out = tmp_path / "run"
    _recorded_run(out)
    (out / "mine").mkdir()
    (out / "mine" / "weights.safetensors").write_bytes(b"user weights")
    (out / "mine" / "checkpoint.pt").write_bytes(b"user checkpoint")
    (out / "notes.txt").write_text("mine\n")
    (out / "round-1" / "labels" / "my-notes.txt").write_text("mine\n")  # a user file in a folder the run made
    (out / ".checkpoint.pt.tmp-123-abc").write_bytes(b"partial")  # left by a killed write: the run's
    check_run_directory(out, resume=False, overwrite=True)
    assert tree(out) == {  # the lock the check took is gone with it: it created that file
        "mine": "/",
        "mine/checkpoint.pt": b"user checkpoint",
        "mine/weights.safetensors": b"user weights",
        "notes.txt": b"mine\n",
        "round-1": "/",
        "round-1/labels": "/",
        "round-1/labels/my-notes.txt": b"mine\n",
    }


def test_overwrite_never_follows_a_symlink_nor_leaves_the_run_directory(tmp_path):
    out, outside = tmp_path / "run", tmp_path / "outside"
    _recorded_run(out)
    outside.mkdir()
    (outside / "checkpoint.pt").write_bytes(b"not the run's")
    (outside / "args.yaml").write_bytes(b"not the run's")
    (tmp_path / "escape.txt").write_text("outside\n")
    shutil.rmtree(out / "teacher")
    (out / "teacher").symlink_to(outside)  # a listed folder replaced by a symlink
    (out / "summary.json").unlink()
    (out / "summary.json").symlink_to(tmp_path / "escape.txt")  # a listed file replaced by a symlink
    record = json.loads((out / "written.json").read_text())
    record["files"] += ["../escape.txt", str(tmp_path / "escape.txt"), "teacher/../../escape.txt"]
    (out / "written.json").write_text(json.dumps(record))
    before = tree(outside)
    check_run_directory(out, resume=False, overwrite=True)
    assert tree(outside) == before and (tmp_path / "escape.txt").read_text() == "outside\n"
    assert (out / "teacher").is_symlink() and (out / "summary.json").is_symlink()
    assert not (out / "checkpoint.pt").exists() and not (out / "round-1").exists()


def test_overwrite_without_a_record_removes_only_the_top_level_run_files(tmp_path, capsys):
    out = tmp_path / "old"
    (out / "teacher").mkdir(parents=True)
    for name in RUN_FILES:
        (out / name).write_bytes(b"old run")
    (out / "teacher" / "checkpoint.pt").write_bytes(b"old sub-run")
    (out / "mine.safetensors").write_bytes(b"user")
    os.symlink(tmp_path / "elsewhere.pt", out / "model_best.pt.link")
    capsys.readouterr()
    check_run_directory(out, resume=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["mine.safetensors", "model_best.pt.link", "teacher"]
    assert (out / "teacher" / "checkpoint.pt").read_bytes() == b"old sub-run"
    err = capsys.readouterr().err
    assert "has no written.json" in err and "mine.safetensors, model_best.pt.link, teacher/" in err


def test_overwrite_of_a_directory_in_use_is_refused_and_deletes_nothing(tmp_path):
    from effl_plugins.errors import LockHeldError

    out = tmp_path / "run"
    _recorded_run(out)
    before = tree(out)
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom effl_plugins.lock import exclusive_lock\n"
         "with exclusive_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)", str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError, match="in use by process"):
            check_run_directory(out, resume=False, overwrite=True)
    finally:
        child.kill()
        child.wait()
    assert {k: v for k, v in tree(out).items() if k != "lock"} == {k: v for k, v in before.items() if k != "lock"}


@pytest.mark.slow
def test_overwrite_through_the_command_line_keeps_user_files(run, tmp_path):
    (run / "mine").mkdir()
    (run / "mine" / "model.safetensors").write_bytes(b"user weights")
    (run / "mine" / "summary.json").write_text("{}\n")
    (tmp_path / "precious.csv").write_text("keep\n")
    (run / "theirs").symlink_to(tmp_path)  # a symlink to a folder holding a file named like a run file
    (tmp_path / "summary.csv").write_text("not the run's\n")
    proc = effl(*FINETUNE, "--epochs", "1", "--out", run, "--overwrite")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "mine" / "model.safetensors").read_bytes() == b"user weights"
    assert (run / "mine" / "summary.json").read_text() == "{}\n"
    assert (tmp_path / "summary.csv").read_text() == "not the run's\n" and (run / "theirs").is_symlink()
    assert [r["epoch"] for r in records(run)] == [1] and not temporaries(run)


# ---------------------------------------------------------------- a full disk
@pytest.mark.slow
def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_keeps_the_previous_one(run):
    before = {name: (run / name).read_bytes() for name in ("checkpoint.pt", "model_best.pt")}
    proc = effl(*FINETUNE, "--epochs", "2", "--out", run, "--resume", limit_bytes=1 << 20)
    line = one_line(proc)
    assert "cannot write" in line and "File too large" in line, line
    assert f"{run}/checkpoint.pt" in line or f"{run}/model_best.pt" in line, line
    assert {name: (run / name).read_bytes() for name in before} == before, "the previous checkpoint must be intact"
    assert checkpoint(run)["epoch"] == 1 and not temporaries(run)
    assert lock_holder(run / "lock") is None
    with exclusive_lock(run):  # released
        pass


@pytest.mark.slow
def test_eval_on_a_full_disk_names_the_file_and_leaves_no_partial_confusion_files(finished, tmp_path):
    out = tmp_path / "eval"
    model = f"test_resnet:{finished / 'checkpoint.pt'}"
    proc = effl("eval", "--model", model, "--data", "digits", "--out", out, "--workers", "0", limit_bytes=1024)
    line = one_line(proc)
    assert f"cannot write '{out}/confusion.json'" in line and "File too large" in line, line
    assert list(out.iterdir()) == []


def test_the_confusion_plot_is_written_atomically(tmp_path, monkeypatch):
    from effl_plugins.commands.eval import plot_confusion
    from effl_plugins.errors import CheckpointError

    matrix = torch.eye(3, dtype=torch.int64)
    plot_confusion(matrix, ["a", "b", "c"], tmp_path / "confusion.png")
    before = (tmp_path / "confusion.png").read_bytes()
    assert before.startswith(b"\x89PNG")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("effl_plugins.train.checkpoints.os.fsync", full)
    with pytest.raises(CheckpointError, match=rf"cannot write '{tmp_path}/confusion.png': No space left on device"):
        plot_confusion(matrix * 2, ["a", "b", "c"], tmp_path / "confusion.png")
    assert (tmp_path / "confusion.png").read_bytes() == before and sorted(os.listdir(tmp_path)) == ["confusion.png"]


# ---------------------------------------------------------------- args.yaml is a record, never the reference
def test_a_tampered_args_yaml_is_rewritten_on_resume_and_not_what_resume_checks(run):
    saved = yaml.safe_load((run / "args.yaml").read_text())
    (run / "args.yaml").write_text(yaml.safe_dump({**saved, "seed": 999, "lr": 5.0}))
    assert main([*FINETUNE, "--epochs", "2", "--out", str(run), "--resume"]) == 0  # checked against the checkpoint
    rewritten = yaml.safe_load((run / "args.yaml").read_text())
    assert rewritten["seed"] == saved["seed"] and rewritten["lr"] == saved["lr"] and rewritten["epochs"] == 2
    assert checkpoint(run)["args"]["seed"] == saved["seed"]


# ---------------------------------------------------------------- one writer per --out and per store
@pytest.mark.slow
def test_two_finetune_runs_started_at_once_on_one_out(finished, tmp_path):
    out = tmp_path / "shared"
    procs = [effl(*FINETUNE, "--epochs", "1", "--out", out, popen=True) for _ in range(2)]
    results = [(p, *p.communicate(timeout=600)) for p in procs]
    statuses = sorted(p.returncode for p, _, _ in results)
    assert statuses == [0, 2], [err[-2000:] for _, _, err in results]
    loser = next(err for p, _, err in results if p.returncode == 2)
    lines = loser.strip().splitlines()
    assert len(lines) == 1 and ("in use by process" in lines[0] or "already holds a run" in lines[0]), loser
    assert [r["epoch"] for r in records(out)] == [1] and not temporaries(out)
    assert records(out) == records(finished)  # one run's results, nothing mixed
    assert_same_tensors(checkpoint(out)["model"], checkpoint(finished)["model"])


def _images(folder: Path, count: int = 40) -> Path:
    from PIL import Image

    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(count):
        pixels = torch.randint(0, 256, (32, 32, 3), generator=g, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"img-{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def labelling(tmp_path_factory):
    """A teacher, a folder of 40 images and the store an uninterrupted ``effl pseudo-label`` makes of them."""
    import timm
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("labelling")
    torch.manual_seed(0)
    save_file(timm.create_model("test_resnet", num_classes=3).state_dict(), root / "teacher.safetensors")
    images = _images(root / "images")
    argv = ["pseudo-label", "--teacher", f"test_resnet:{root / 'teacher.safetensors'}", "--unlabeled", images]
    argv += ["--img-size", "32", "--shard-size", "8", "--workers", "0", "--device", "cpu"]
    reference = root / "reference"
    proc = effl(*argv, "--out", reference)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return argv, reference


@pytest.mark.slow
def test_two_pseudo_label_runs_on_one_store(labelling, tmp_path):
    argv, reference = labelling
    store, go = tmp_path / "store", tmp_path / "go"
    hold = f"""
        import effl_plugins.strategies.selftrain.labeler as labeler
        real = labeler.write_shard
        def write_shard(*args, **kwargs):
            if not Path({str(go)!r}).exists():
                print("holding", flush=True)
                while not Path({str(go)!r}).exists():
                    time.sleep(0.05)
            return real(*args, **kwargs)
        labeler.write_shard = write_shard
    """
    first = effl(*argv, "--out", store, hook=hold, popen=True)
    try:
        assert first.stdout.readline().strip() == "holding", first.stderr.read()[-3000:]
        second = effl(*argv, "--out", store)
        line = one_line(second)
        assert f"pseudo-label store '{store}' is in use by process {first.pid}" in line, line
    finally:
        go.touch()
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert tree(store) == tree(reference), "the store holds one run's labels, nothing mixed"


@pytest.mark.slow
def test_sigkill_during_the_manifest_write_then_resume_gives_the_same_store(labelling, tmp_path):
    argv, reference = labelling
    store = tmp_path / "store"
    kill = """
        import effl_plugins.strategies.selftrain.store as store
        real, writes = store.atomic_write_bytes, [0]
        def atomic_write_bytes(path, data):
            if Path(path).name.startswith("manifest-"):
                writes[0] += 1
                if writes[0] == 4:  # the manifest after the third shard: a partial temporary file, then SIGKILL
                    with open(Path(path).parent / f".{Path(path).name}.tmp-{os.getpid()}-x", "wb") as f:
                        f.write(data[: len(data) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(path, data)
        store.atomic_write_bytes = atomic_write_bytes
    """
    killed = effl(*argv, "--out", store, hook=kill)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    manifest = json.loads((store / "manifest-rank00000.json").read_text())
    assert [s["index"] for s in manifest["shards"]] == [0, 1] and not manifest["complete"]
    resumed = effl(*argv, "--out", store, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    left = tree(store)
    killed_locks = {name for name in left if _is_lock(name)}  # the killed run's: the resumed run made none of them
    assert killed_locks and all(left[name] == b"" for name in killed_locks)
    assert {k: v for k, v in left.items() if k not in killed_locks} == tree(reference)


@pytest.mark.slow
def test_sigkill_during_torch_save_of_a_checkpoint_then_resume_equals_an_uninterrupted_run(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    proc = effl(*FINETUNE, "--epochs", "2", "--out", straight)  # a child like the killed run: same rounding
    assert proc.returncode == 0, proc.stderr[-3000:]
    kill = """
        import torch
        import effl_plugins.train.engine as engine
        real_save, real_atomic, saves, armed = torch.save, engine.atomic_save, [0], [False]
        def save(obj, f, *args, **kwargs):
            if armed[0]:  # half a zip archive into the temporary file, then SIGKILL
                f.write(b"PK\\x03\\x04" + bytes(4096))
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(obj, f, *args, **kwargs)
        def atomic_save(obj, path):
            if Path(path).name == "checkpoint.pt":
                saves[0] += 1
                armed[0] = saves[0] == 2  # epoch 2's checkpoint
            return real_atomic(obj, path)
        torch.save, engine.atomic_save = save, atomic_save
    """
    proc = effl(*FINETUNE, "--epochs", "2", "--out", killed, hook=kill)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert checkpoint(killed)["epoch"] == 1 and temporaries(killed)
    resumed = effl(*FINETUNE, "--epochs", "2", "--out", killed, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not temporaries(killed), "the killed write's temporary file is removed"
    assert records(killed) == records(straight)
    assert (killed / "summary.csv").read_bytes() == (straight / "summary.csv").read_bytes()
    for name in ("checkpoint.pt", "model_best.pt"):
        left, right = checkpoint(killed, name), checkpoint(straight, name)
        assert_same_tensors(left["model"], right["model"], f"{name} ")
        assert (left["epoch"], left["best_top1"]) == (right["epoch"], right["best_top1"])
    assert (killed / "lock").read_bytes() == b""  # the killed run's lock, emptied: the resumed run did not make it
    assert sorted(p.name for p in killed.iterdir() if p.name != "lock") == sorted(p.name for p in straight.iterdir())

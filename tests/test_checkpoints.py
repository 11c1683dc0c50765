"""Atomic writes, weights-only checkpoint loading, RNG states as tensors."""

from __future__ import annotations

import errno
import os
import random
import stat

import numpy as np
import pytest
import torch

from effl_plugins.errors import CheckpointError
from effl_plugins.train.checkpoints import (
    atomic_save,
    atomic_write_bytes,
    atomic_write_text,
    file_mode,
    load_checkpoint,
    remove_temporaries,
    rng_state,
    set_rng_state,
    temporary_prefix,
)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "checkpoint.pt"
    atomic_save({"model": {"w": torch.ones(2)}, "epoch": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_save({"model": {}, "epoch": 2, "bad": Unpicklable()}, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"], "no temporary file may be left behind"
    atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}"


def test_checkpoint_with_code_objects_is_refused(tmp_path):
    torch.save({"model": {}, "epoch": 0, "hook": random.Random}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="weights only"):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an effl training checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def test_rng_states_round_trip_as_tensors(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in NumPy's state
    atomic_save({"rng": rng_state(), "model": {}, "epoch": 0}, tmp_path / "c.pt")
    expected = (random.random(), np.random.standard_normal(), torch.rand(3))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(torch.load(tmp_path / "c.pt", weights_only=True)["rng"])
    assert (random.random(), np.random.standard_normal()) == expected[:2]
    assert torch.equal(torch.rand(3), expected[2])


@pytest.mark.parametrize(
    "write",
    [
        lambda path: atomic_save({"model": {}, "epoch": 0}, path),
        lambda path: atomic_write_text(path, "{}\n"),
        lambda path: atomic_write_bytes(path, b"\x00\x01"),
    ],
    ids=["save", "text", "bytes"],
)
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_every_written_file_gets_the_users_umask(tmp_path, write, umask):
    old = os.umask(umask)
    try:
        assert file_mode() == 0o666 & ~umask
        write(tmp_path / "out")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o666 & ~umask


def test_disk_full_raises_one_clear_error_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    atomic_save({"model": {}, "epoch": 1}, path)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    for write in (lambda: atomic_save({"model": {}, "epoch": 2}, path), lambda: atomic_write_text(path, "x")):
        with pytest.raises(CheckpointError, match=r"cannot write '.*checkpoint\.pt': No space left on device") as info:
            write()
        assert info.value.__cause__ is None and info.value.__suppress_context__
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    assert load_checkpoint(path)["epoch"] == 1


def test_a_parent_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CheckpointError, match="cannot write .*file/checkpoint.pt"):
        atomic_save({}, tmp_path / "file" / "checkpoint.pt")


def test_temporary_files_carry_the_documented_prefix(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write_text(tmp_path / "summary.json", "{}")
    assert seen[0].startswith(temporary_prefix(tmp_path / "summary.json") + f"{os.getpid()}-")


def test_remove_temporaries_deletes_only_the_named_files_strays(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"kept")
    strays = [".checkpoint.pt.tmp-123-abc", ".checkpoint.pt.tmp-9-x"]
    others = [".summary.json.tmp-1-a", "checkpoint.pt.tmp-1", ".checkpoint.ptx.tmp-1"]
    for name in strays + others:
        (tmp_path / name).write_bytes(b"partial")
    removed = remove_temporaries(tmp_path, "checkpoint.pt")
    assert sorted(p.name for p in removed) == sorted(strays)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoint.pt", *others])
    assert len(remove_temporaries(tmp_path)) == 2  # every name: the other two strays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "checkpoint.pt.tmp-1"]


# ---------------------------------------------------------------- a full disk: one error naming the file
class _FullDisk:
    """A file object that accepts ``room`` bytes, then fails every write with ENOSPC (as a full disk)."""

    def __init__(self, handle, room):
        self.handle, self.room = handle, room

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


@pytest.mark.parametrize("room", [0, 1000, 100_000])
def test_a_full_disk_during_torch_save_is_one_checkpoint_error_naming_the_file(tmp_path, monkeypatch, room):
    import effl_plugins.train.checkpoints as checkpoints

    path = tmp_path / "checkpoint.pt"
    atomic_save({"model": {"w": torch.ones(2)}, "epoch": 1}, path)
    before = path.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(checkpoints.os, "fdopen", lambda fd, mode: _FullDisk(real_fdopen(fd, mode), room))
    with pytest.raises(CheckpointError) as info:
        atomic_save({"model": {"w": torch.zeros(100_000)}, "epoch": 2}, path)
    message = str(info.value)
    assert f"cannot write {str(path)!r}" in message and "No space left on device" in message, message
    assert "\n" not in message and "inline_container" not in message
    assert path.read_bytes() == before, "the previous checkpoint must stay as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"], "no temporary file may be left behind"


def test_a_full_disk_for_text_and_bytes_names_the_file(tmp_path, monkeypatch):
    import effl_plugins.train.checkpoints as checkpoints

    real_fdopen = os.fdopen
    monkeypatch.setattr(checkpoints.os, "fdopen", lambda fd, mode: _FullDisk(real_fdopen(fd, mode), 0))
    for write, name in ((atomic_write_text, "summary.json"), (atomic_write_bytes, "confusion.png")):
        with pytest.raises(CheckpointError, match=rf"cannot write '.*/{name}': No space left on device \(errno 28\)"):
            write(tmp_path / name, "x" if write is atomic_write_text else b"x")
    assert list(tmp_path.iterdir()) == []


def test_a_file_size_limit_makes_torch_save_fail_into_a_checkpoint_error(tmp_path):
    """The real thing: ``RLIMIT_FSIZE`` (SIGXFSZ ignored) makes the kernel refuse the write (EFBIG)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import resource, signal, torch
        from effl_plugins.errors import CheckpointError
        from effl_plugins.train.checkpoints import atomic_save
        atomic_save({{"model": {{}}, "epoch": 1}}, {str(tmp_path / "checkpoint.pt")!r})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            atomic_save({{"model": {{"w": torch.zeros(100_000)}}, "epoch": 2}}, {str(tmp_path / "checkpoint.pt")!r})
        except CheckpointError as exc:
            print(exc)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"cannot write {str(tmp_path / 'checkpoint.pt')!r}: File too large (errno 27)" in proc.stdout
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_writes_inside_a_recorded_run_directory_are_listed_before_they_are_made(tmp_path):
    from effl_plugins.written import make_dirs, read_record, recording

    (tmp_path / "run" / "mine").mkdir(parents=True)
    with recording(tmp_path / "run"):
        atomic_write_text(tmp_path / "run" / "args.yaml", "a: 1\n")
        atomic_save({"model": {}, "epoch": 0}, tmp_path / "run" / "teacher" / "checkpoint.pt")
        atomic_write_text(tmp_path / "run" / "mine" / "summary.json", "{}")  # a folder that was there: not listed
        make_dirs(tmp_path / "run" / "round-1" / "labels")
        atomic_write_text(tmp_path / "elsewhere.txt", "x")  # outside the run: not listed
    files, dirs = read_record(tmp_path / "run")
    assert files == {"args.yaml", "teacher/checkpoint.pt", "mine/summary.json"}
    assert dirs == {"teacher", "round-1", "round-1/labels"}
    atomic_write_text(tmp_path / "run" / "later.txt", "x")  # no recording active: nothing listed
    assert read_record(tmp_path / "run")[0] == files

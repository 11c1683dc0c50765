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

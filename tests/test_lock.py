"""exclusive_lock: one writer per directory, the holder named, dead holders taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from effl_plugins.errors import EfflError, LockHeldError
from effl_plugins.lock import exclusive_lock, lock_holder

HOLD = textwrap.dedent("""
    import sys, time
    from effl_plugins.lock import exclusive_lock
    with exclusive_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def hold_in_child(directory):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_the_lock_file_names_its_holder_and_is_removed_on_release(tmp_path):
    with exclusive_lock(tmp_path / "run") as path:
        assert path == tmp_path / "run" / "lock"
        assert lock_holder(path) == os.getpid()
    assert not path.exists() and lock_holder(path) is None  # it made the file: it removes it
    with exclusive_lock(tmp_path / "run"):  # released: taken again
        pass
    assert list((tmp_path / "run").iterdir()) == []


def test_a_lock_file_found_there_is_emptied_and_left(tmp_path):
    (tmp_path / "lock").write_text("4242\n")  # a killed holder's
    with exclusive_lock(tmp_path) as path:
        assert lock_holder(path) == os.getpid()
    assert path.read_text() == ""  # this process did not make it: it stays


def test_a_second_writer_in_this_process_is_refused(tmp_path):
    with exclusive_lock(tmp_path, name=".lock-rank00000", what="pseudo-label store"):
        with pytest.raises(LockHeldError, match=rf"pseudo-label store '{tmp_path}' is in use by process {os.getpid()}"):
            with exclusive_lock(tmp_path, name=".lock-rank00000", what="pseudo-label store"):
                pass
        with exclusive_lock(tmp_path, name=".lock-rank00001"):  # another name is another lock
            pass


def test_a_live_process_holding_the_lock_is_named_and_a_killed_ones_lock_is_taken_over(tmp_path):
    child = hold_in_child(tmp_path)
    try:
        with pytest.raises(LockHeldError) as info:
            with exclusive_lock(tmp_path):
                pass
        assert info.value.pid == child.pid and f"process {child.pid}" in str(info.value)
        assert isinstance(info.value, EfflError)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert lock_holder(tmp_path / "lock") == child.pid  # the dead holder's pid is still written ...
    with exclusive_lock(tmp_path) as path:  # ... but the kernel released its flock: taken over
        assert lock_holder(path) == os.getpid()


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    with pytest.raises(KeyError):
        with exclusive_lock(tmp_path):
            raise KeyError("boom")
    with exclusive_lock(tmp_path):
        pass


@pytest.mark.parametrize("name", ["", "a/b", "..", 3])
def test_a_lock_name_must_be_a_plain_file_name(tmp_path, name):
    with pytest.raises(ValueError, match=r"name must be a plain file name"):
        with exclusive_lock(tmp_path, name=name):
            pass


def test_the_new_error_types_are_public_and_derive_from_effl_error():
    import effl_plugins as ep

    assert issubclass(ep.LockHeldError, ep.EfflError) and issubclass(ep.PseudoLabelStoreError, ep.EfflError)
    assert issubclass(ep.PseudoLabelStoreError, ValueError)
    assert {"LockHeldError", "PseudoLabelStoreError"} <= set(ep.__all__)


# ---------------------------------------------------------------- the lock never writes through a path it did not make
def test_a_symlink_named_like_the_lock_is_refused_and_its_target_untouched(tmp_path):
    from effl_plugins.lock import LockFileError

    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "lock").symlink_to(victim)
    with pytest.raises(LockFileError, match=r"lock file '.*/run/lock' is a symbolic link") as info:
        with exclusive_lock(tmp_path / "run"):
            pass
    assert isinstance(info.value, EfflError) and info.value.path == str(tmp_path / "run" / "lock")
    assert victim.read_text() == "precious\n"
    dangling = tmp_path / "dangling"
    dangling.mkdir()
    (dangling / "lock").symlink_to(tmp_path / "nowhere")
    with pytest.raises(LockFileError, match="symbolic link"):
        with exclusive_lock(dangling):
            pass
    assert not (tmp_path / "nowhere").exists(), "a dangling symlink must not create its target"


def test_a_fifo_a_hard_link_a_folder_and_a_file_with_other_contents_are_refused(tmp_path):
    from effl_plugins.lock import LockFileError

    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "lock")
    with pytest.raises(LockFileError, match="not a regular file"):
        with exclusive_lock(fifo):
            pass
    outside = tmp_path / "outside.txt"
    outside.write_text("")
    linked = tmp_path / "linked"
    linked.mkdir()
    os.link(outside, linked / "lock")
    with pytest.raises(LockFileError, match="2 hard links"):
        with exclusive_lock(linked):
            pass
    folder = tmp_path / "folder"
    (folder / "lock").mkdir(parents=True)
    with pytest.raises(LockFileError, match="not a regular file"):
        with exclusive_lock(folder):
            pass
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "lock").write_text("my shopping list\n")
    with pytest.raises(LockFileError, match="other than a lock's process id"):
        with exclusive_lock(notes):
            pass
    assert (notes / "lock").read_text() == "my shopping list\n"
    (notes / "lock").write_text("12345\n")  # a dead holder's pid: taken over
    with exclusive_lock(notes):
        pass


def test_the_lock_command_line_refusal_is_one_line_and_leaves_the_target(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "lock").symlink_to(victim)
    argv = ["finetune", "--data", "digits", "--model", "test_resnet", "--epochs", "1", "--img-size", "32"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "effl_plugins.cli", *argv, "--out", "run", "--device", "cpu", "--workers", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "lock file 'run/lock' is a symbolic link" in lines[0]
    assert victim.read_text() == "precious\n"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["lock"]


def test_a_store_lock_made_inside_a_run_directory_is_listed_in_its_record(tmp_path):
    from effl_plugins.written import read_record

    with exclusive_lock(tmp_path / "run"):
        with exclusive_lock(tmp_path / "run" / "round-1" / "labels", name=".lock-rank00000", what="pseudo-label store"):
            pass
    files, dirs = read_record(tmp_path / "run")
    assert files == {"round-1/labels/.lock-rank00000"} and dirs == {"round-1", "round-1/labels"}

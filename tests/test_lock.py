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


def test_the_lock_file_names_its_holder_and_is_emptied_on_release(tmp_path):
    with exclusive_lock(tmp_path / "run") as path:
        assert path == tmp_path / "run" / "lock"
        assert lock_holder(path) == os.getpid()
    assert path.read_text() == "" and lock_holder(path) is None
    with exclusive_lock(tmp_path / "run"):  # released: taken again
        pass


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

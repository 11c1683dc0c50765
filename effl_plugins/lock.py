"""One writer per directory: an advisory ``flock`` on a lock file that names its holder.

``exclusive_lock(directory)`` takes an exclusive, non-blocking ``fcntl.flock`` on ``directory/name``
and writes this process's pid into the file, so a refused writer can say who holds it. The kernel
releases a ``flock`` when its holder exits, however it exits (SIGKILL included), so the lock file of
a dead process is simply taken over by the next writer: a stale lock never needs cleaning by hand.
The file itself stays (emptied on release): unlinking it would let two writers lock two different
files of the same name.

Example::

    with exclusive_lock(out_dir, what="run directory"):
        ...  # only this process writes into out_dir
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockHeldError

__all__ = ["exclusive_lock", "lock_holder"]


def lock_holder(path: str | os.PathLike) -> int | None:
    """The pid written in the lock file at ``path``, or None when it is empty, absent or unreadable."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def exclusive_lock(directory: str | os.PathLike, name: str = "lock", what: str = "run directory") -> Iterator[Path]:
    """Hold ``directory/name`` exclusively for the ``with`` block; yields the lock file's path.

    ``directory`` is created if needed. Raises ``LockHeldError`` (naming the directory and the
    holding pid) when another open lock on the file exists, in this process or another; ``what``
    names the directory in that message (``"run directory"``, ``"pseudo-label store"``).
    """
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"name must be a plain file name, got {name!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockHeldError(directory, path, lock_holder(path), what) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

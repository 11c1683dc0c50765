"""One writer per directory: an advisory ``flock`` on a lock file that names its holder.

``exclusive_lock(directory)`` takes an exclusive, non-blocking ``fcntl.flock`` on ``directory/name``
and writes this process's pid into the file, so a refused writer can say who holds it. The kernel
releases a ``flock`` when its holder exits, however it exits (SIGKILL included), so the lock file of
a dead process is simply taken over by the next writer: a stale lock never needs cleaning by hand.

On release, a lock file this process created is removed; one it found there (a killed writer's) is
emptied and left. A writer whose locked file was unlinked meanwhile opens the path afresh, so two
writers never hold two different files of the same name.

The lock never writes through a path the project did not create: a symlink (never followed), a FIFO,
device or hard link, or a file holding anything but a pid is refused with ``LockFileError`` naming
the path, and nothing is written.

Example::

    with exclusive_lock(out_dir, what="run directory"):
        ...  # only this process writes into out_dir
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from .errors import LockFileError, LockHeldError
from .written import make_dirs, recording, register_file

__all__ = ["exclusive_lock", "lock_holder", "LockFileError"]

_PID_LINE = re.compile(rb"\d*\n?")


def lock_holder(path: str | os.PathLike) -> int | None:
    """The pid written in the lock file at ``path``, or None when it is empty, absent or unreadable."""
    try:
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC), "rb", 0) as file:
            regular = stat.S_ISREG(os.fstat(file.fileno()).st_mode)
            text = file.read(64).decode("ascii", errors="replace").strip() if regular else ""
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def exclusive_lock(
    directory: str | os.PathLike, name: str = "lock", what: str = "run directory", record: bool | None = None
) -> Iterator[Path]:
    """Hold ``directory/name`` exclusively for the ``with`` block; yields the lock file's path.

    ``directory`` is created if needed. Raises ``LockHeldError`` (naming the directory and the
    holding pid) when another open lock on the file exists, in this process or another; ``what``
    names the directory in that message (``"run directory"``, ``"pseudo-label store"``).
    ``LockFileError`` (naming the path) when the path is a symlink or anything but a lock file.
    ``record`` (default: ``what == "run directory"``) lists what the block writes under ``directory``
    in its ``written.json`` (see ``effl_plugins.written``).
    """
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"name must be a plain file name, got {name!r}")
    directory = Path(directory)
    make_dirs(directory)
    path = directory / name
    fd, created = _acquire(directory, path, what)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        with recording(directory) if (what == "run directory" if record is None else record) else nullcontext():
            yield path
    finally:
        _release(fd, path, created)


#: How often a writer reopens a lock file that was removed while it waited to lock it.
_ATTEMPTS = 100


def _acquire(directory: Path, path: Path, what: str) -> tuple[int, bool]:
    """A descriptor holding the flock on the file ``path`` names now, and whether this call created it."""
    for _ in range(_ATTEMPTS):
        fd, created = _open_lock_file(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _names(path, fd):
                head = os.pread(fd, 64, 0)  # the lock truncates the file: it must hold nothing but a pid
                if len(head) >= 64 or not _PID_LINE.fullmatch(head):
                    raise LockFileError(path, "holds something other than a lock's process id")
                return fd, created
        except BaseException as exc:
            os.close(fd)  # not a lock file: left as it is
            if isinstance(exc, BlockingIOError):
                raise LockHeldError(directory, path, lock_holder(path), what) from None
            raise
        os.close(fd)  # its holder removed it on release: lock the file the path names now
    raise LockHeldError(directory, path, lock_holder(path), what)


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` (not followed) is the file open on ``fd``."""
    try:
        here = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def _release(fd: int, path: Path, created: bool) -> None:
    """Empty the lock file; remove it when this process created it and the path still names it; then
    close it (closing the last descriptor releases the flock)."""
    try:
        os.ftruncate(fd, 0)
        if created and _names(path, fd):
            os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> tuple[int, bool]:
    """A descriptor on the lock file at ``path``, never through a symlink, and whether this call created
    the file; refused unless it is a regular file with one link."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO cannot hang the open
    created = False
    try:
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            register_file(path)  # a lock file this process makes is listed in the run's record (when one is kept)
            try:
                fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
                created = True
            except FileExistsError:  # made meanwhile by another writer: open it as above
                fd = os.open(path, flags)
    except OSError as exc:
        raise _refusal(path, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LockFileError(path, "is not a regular file")
        if info.st_nlink != 1:
            raise LockFileError(path, f"has {info.st_nlink} hard links (a lock file has one)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, created


def _refusal(path: Path, exc: OSError) -> Exception:
    if exc.errno == errno.ELOOP:
        return LockFileError(path, "is a symbolic link (a lock file is never followed)")
    if exc.errno in (errno.ENXIO, errno.ENODEV, errno.EISDIR):
        return LockFileError(path, "is not a regular file")
    return exc

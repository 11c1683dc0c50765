"""The record of what a run wrote: ``written.json`` in the run directory.

While a process holds a run directory's lock (``effl_plugins.lock.exclusive_lock(out, what="run
directory")``), every file the project writes under it (through ``train.checkpoints``' atomic writers,
or a lock file) and every folder it creates there is listed, by relative path, in
``out/written.json``, *before* the file or folder is made: a kill at any moment leaves nothing of the
project's unlisted. ``--overwrite`` (``train.rundir``) deletes exactly what the record lists.

Example::

    with recording(out):
        make_dirs(out / "teacher")        # listed as a folder the project created
        register_file(out / "teacher" / "args.yaml")
        ...                               # then write the file
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import takewhile
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import CheckpointError

__all__ = [
    "RECORD_NAME",
    "WriteRecord",
    "recording",
    "register_file",
    "make_dirs",
    "read_record",
    "file_mode",
    "replace_atomically",
    "temporary_prefix",
]

#: The record's file name inside the run directory.
RECORD_NAME = "written.json"
FORMAT = "effl-written-1"

_ACTIVE: list[WriteRecord] = []
_GUARD = threading.RLock()


def file_mode() -> int:
    """The mode every file the project writes gets: ``0o666 & ~umask``, as ``open()`` would give."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it, then put it back
    os.umask(mask)
    return 0o666 & ~mask


def _valid_entry(entry: Any) -> bool:
    if not isinstance(entry, str) or not entry or "\x00" in entry:
        return False
    pure = PurePosixPath(entry)
    return not pure.is_absolute() and all(part not in ("", ".", "..") for part in pure.parts)


def read_record(root: str | os.PathLike) -> tuple[set[str], set[str]] | None:
    """``(files, dirs)`` listed in ``root/written.json``, relative POSIX paths; None when there is no
    readable record (absent, a symlink, not JSON, or not this format). Entries that are absolute or
    climb out of ``root`` are dropped."""
    try:
        with os.fdopen(os.open(Path(root) / RECORD_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as handle:
            body = json.loads(handle.read(16 * 1024 * 1024).decode())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return None
    files, dirs = body.get("files"), body.get("dirs")
    if not isinstance(files, list) or not isinstance(dirs, list):
        return None
    return {f for f in files if _valid_entry(f)}, {d for d in dirs if _valid_entry(d)}


class WriteRecord:
    """The record of one run directory; see the module docstring."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._real_root = os.path.realpath(self.root)
        found = read_record(self.root)
        self.files, self.dirs = found if found is not None else (set(), set())

    def relative(self, path: str | os.PathLike) -> str | None:
        """``path`` relative to the root (its folder resolved, its name kept), or None when outside."""
        path = Path(path)
        parent = os.path.realpath(path.parent)
        if parent == self._real_root:
            relative = path.name
        elif parent.startswith(self._real_root + os.sep):
            relative = f"{os.path.relpath(parent, self._real_root)}/{path.name}".replace(os.sep, "/")
        else:
            return None
        return relative if _valid_entry(relative) and relative != RECORD_NAME else None

    def add(self, path: str | os.PathLike, *, folder: bool = False) -> None:
        relative = self.relative(path)
        entries = self.dirs if folder else self.files
        if relative is not None and relative not in entries:
            entries.add(relative)
            self.save()

    def save(self) -> None:
        body = {"format": FORMAT, "files": sorted(self.files), "dirs": sorted(self.dirs)}
        replace_atomically(
            self.root / RECORD_NAME, lambda handle: handle.write((json.dumps(body, indent=1) + "\n").encode())
        )


def temporary_prefix(path: str | os.PathLike) -> str:
    """The name prefix of ``path``'s temporary files (``.NAME.tmp-``); strays are safe to delete
    by whoever holds the directory's lock."""
    return f".{Path(path).name}.tmp-"


class _WriteWatch:
    """A binary file's ``write``/``flush`` that remember the first ``OSError`` they raise (``torch.save``
    reports a failed write of its stream as a ``RuntimeError`` that no longer says why)."""

    def __init__(self, handle):
        self.handle, self.error = handle, None

    def _watched(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def write(self, data) -> int:
        return self._watched(self.handle.write, data)

    def flush(self) -> None:
        self._watched(self.handle.flush)

    def fileno(self) -> int:
        return self.handle.fileno()


def replace_atomically(path: str | os.PathLike, write: Callable[[Any], Any]) -> None:
    """The one atomic writer: ``write(handle)`` into a temporary file beside ``path``, flush, fsync,
    ``file_mode()``, rename. On any failure the temporary file is removed; an OS error (disk full,
    permission, read-only), also when a writer reports it as another exception, becomes one
    ``CheckpointError`` naming ``path``."""
    path = Path(path)
    tmp: str | None = None
    watch: _WriteWatch | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{temporary_prefix(path)}{os.getpid()}-", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            watch = _WriteWatch(handle)
            write(watch)
            watch.flush()
            os.fchmod(handle.fileno(), file_mode())
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except BaseException as exc:
        cause = exc if isinstance(exc, OSError) else (watch.error if watch is not None else None)
        if cause is None or isinstance(exc, CheckpointError):
            raise
        reason = cause.strerror or str(cause)
        raise CheckpointError(
            f"cannot write {str(path)!r}: {reason} (errno {cause.errno}); the previous file, if any, is unchanged"
        ) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _list(path: str | os.PathLike, folder: bool = False) -> None:
    """List ``path`` in the innermost active record that holds it; nothing when none does."""
    with _GUARD:
        for record in reversed(_ACTIVE):
            if record.relative(path) is not None:
                record.add(path, folder=folder)
                return


@contextmanager
def recording(root: str | os.PathLike) -> Iterator[WriteRecord]:
    """List every file and folder the project makes under ``root`` for the ``with`` block (nested
    blocks: the innermost record holding a path gets it). Call it only while holding ``root``'s lock."""
    record = WriteRecord(root)
    with _GUARD:
        _ACTIVE.append(record)
    try:
        yield record
    finally:
        with _GUARD:
            _ACTIVE.remove(record)


def register_file(path: str | os.PathLike) -> None:
    """List ``path`` (about to be written) in the active record that holds it; nothing when none does."""
    _list(path)


def make_dirs(path: str | os.PathLike) -> Path:
    """``path.mkdir(parents=True, exist_ok=True)``, listing each folder it creates in the active record
    that holds it (listed before it is made)."""
    path = Path(path)
    missing = takewhile(lambda folder: not folder.exists(), [path, *path.parents])
    for folder in reversed(list(missing)):
        _list(folder, folder=True)
        folder.mkdir(exist_ok=True)
    return path

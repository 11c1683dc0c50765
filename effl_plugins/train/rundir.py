"""A run directory (``--out DIR``): what a run writes, and the rules that keep two runs apart.

Files (timm's layout where it has one): ``RUN_FILES`` (``args.yaml``: every resolved setting and the
versions; ``summary.csv``: timm's ``update_summary`` columns; ``metrics.jsonl``: one strict JSON object per
epoch), each written atomically; strategies add sub-runs (``teacher/``, ``round-N/``) and pseudo-label
stores (``labels/``). ``lock`` is the one-writer lock (``effl_plugins.lock``); ``written.json`` lists every
file and folder the run made (``effl_plugins.written``).

Rules, checked before any training: ``--out`` must not be a file; one writer at a time; a directory
holding a run is not reused without ``resume`` or ``overwrite``; ``resume`` needs a checkpoint there.

What ``overwrite`` may delete, under the directory's lock:

- with a ``written.json``: exactly the regular files it lists and their temporary files
  (``.NAME.tmp-*``), then the folders it lists, each only when empty, then ``written.json``. Every path is
  walked one folder at a time without following a symlink: a listed path that is now a symlink, or lies
  under one, is left; so is a listed file another process holds locked. A listed tracker's folder
  (``TRACKER_FOLDERS``) goes with everything in it, symlinks unlinked, never followed.
- without one (an older version's run): only the top-level ``RUN_FILES`` and their temporary files;
  what else is there is named on stderr and left in place.

The run directory itself and its ``lock`` file are never deleted here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, EfflError
from ..lock import exclusive_lock
from ..written import RECORD_NAME, read_record
from .checkpoints import CHECKPOINT_NAME, atomic_write_text, temporary_prefix
from .trackers import TRACKER_FOLDERS

__all__ = [
    "RunDirectoryError",
    "check_run_directory",
    "resolve_resume",
    "write_records",
    "strict_json",
    "BEST_NAME",
    "RUN_FILES",
    "CSV_COLUMNS",
    "write_args",
    "write_summary",
    "plain",
]

BEST_NAME = "model_best.pt"
RUN_FILES = (CHECKPOINT_NAME, BEST_NAME, "args.yaml", "summary.csv", "metrics.jsonl", "summary.json")
#: The columns of timm's ``update_summary`` (train loss, eval loss and accuracies, learning rate).
CSV_COLUMNS = ("epoch", "train_loss", "eval_loss", "eval_top1", "eval_top5", "lr")


class RunDirectoryError(EfflError, ValueError):
    """``--out`` cannot be used as asked (a file, a finished run without ``--overwrite``, ...)."""


def check_run_directory(out_dir: str | Path | None, *, resume: bool, overwrite: bool = False) -> Path | None:
    """Apply the rules above: with ``overwrite`` the old run's files are removed, else the temporary files of
    killed writes. Returns the path."""
    if out_dir is None:
        if resume:
            raise RunDirectoryError("--resume needs --out DIR: the run directory to continue")
        return None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RunDirectoryError(f"--out {str(out)!r} is a file, not a directory")
    has_run = out.is_dir() and any((out / name).exists() for name in (CHECKPOINT_NAME, "summary.json"))
    if resume and not (out / CHECKPOINT_NAME).is_file() and not _has_nested_checkpoint(out):
        raise RunDirectoryError(f"--resume: no checkpoint in {str(out)!r} to continue (start without --resume)")
    if has_run and not resume and not overwrite:
        raise RunDirectoryError(
            f"--out {str(out)!r} already holds a run; pass --resume to continue it or --overwrite to replace it"
        )
    if out.is_dir():
        with exclusive_lock(out, what="run directory", record=False):
            if has_run and overwrite and not resume:
                _remove_run(out)
            else:
                _remove_stray_temporaries(out)
    return out


def resolve_resume(out_dir: str | Path | None, resume: bool | str) -> bool:
    """``resume`` as a bool: ``"auto"`` (``--resume auto``) is True when ``out_dir`` holds a checkpoint (the
    run's, or a sub-run's such as ``teacher/``); whether it is this run's is checked when it is loaded."""
    if resume != "auto":
        return bool(resume)
    if out_dir is None:
        raise RunDirectoryError("--resume auto needs --out DIR: the run directory to continue or start")
    out = Path(out_dir)
    return (out / CHECKPOINT_NAME).is_file() or _has_nested_checkpoint(out)


def _has_nested_checkpoint(out: Path) -> bool:
    return out.is_dir() and any(out.rglob(CHECKPOINT_NAME))


def _remove_run(out: Path) -> None:
    """Remove what the run in ``out`` wrote (see the module docstring); hold its lock."""
    found = read_record(out)
    if found is None:
        with _Walker(out) as walker:
            for name in RUN_FILES:
                walker.remove_file(name)
        left = sorted(p.name + ("/" if p.is_dir() and not p.is_symlink() else "") for p in out.iterdir())
        left = [name for name in left if name != "lock"]
        if left:
            print(
                f"--overwrite: {str(out)!r} has no {RECORD_NAME} (made by an older version): removed only its "
                f"top-level run files; left in place: {', '.join(left)}",
                file=sys.stderr,
            )
        return
    files, dirs = found
    with _Walker(out) as walker:
        for relative in sorted(files, key=_deepest_first):
            walker.remove_file(relative)
        for relative in sorted(d for d in dirs if d.rsplit("/", 1)[-1] in TRACKER_FOLDERS.values()):
            walker.remove_tree(relative)
        for relative in sorted(dirs, key=_deepest_first):
            walker.remove_folder(relative)
        walker.remove_file(RECORD_NAME)


def _remove_stray_temporaries(out: Path) -> None:
    """The temporary files killed writes of the run's files left behind (hold the directory's lock)."""
    found = read_record(out)
    listed = found[0] if found is not None else set()
    with _Walker(out) as walker:
        for relative in sorted({*RUN_FILES, *listed}, key=_deepest_first):
            walker.remove_temporaries(relative)


def _deepest_first(relative: str) -> tuple[int, str]:
    return -relative.count("/"), relative


class _Walker:
    """Deletes entries under a root folder through directory descriptors, never following a symlink."""

    def __init__(self, root: Path):
        self.root = root

    def __enter__(self) -> _Walker:
        self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)

    @contextlib.contextmanager
    def _parent(self, relative: str) -> Iterator[tuple[int, str] | None]:
        """A descriptor on ``relative``'s folder (walked without following symlinks) and its name, closed after
        the block; None when a folder on the way is gone, a symlink or not a folder (nothing of ours below it)."""
        *folders, name = relative.split("/")
        fd = os.dup(self.fd)
        try:
            for folder in folders:
                try:
                    child = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError:
                    yield None
                    return
                os.close(fd)
                fd = child
            yield fd, name
        finally:
            os.close(fd)

    def remove_file(self, relative: str) -> None:
        """Unlink ``relative`` if it is a regular file no other process holds locked, and its temporaries."""
        with self._parent(relative) as found:
            if found is None:
                return
            fd, name = found
            self._remove_temporaries(fd, name)
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if not stat.S_ISREG(info.st_mode):
                return
            try:
                handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
            except OSError:
                return
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a lock file in use stays
                if os.fstat(handle).st_ino == info.st_ino:
                    os.unlink(name, dir_fd=fd)
            except OSError:
                pass
            finally:
                os.close(handle)

    def remove_temporaries(self, relative: str) -> None:
        with self._parent(relative) as found:
            if found is not None:
                self._remove_temporaries(*found)

    @staticmethod
    def _remove_temporaries(fd: int, name: str) -> None:
        prefix = temporary_prefix(name)
        for entry in os.listdir(fd):
            if entry.startswith(prefix):
                try:
                    if stat.S_ISREG(os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mode):
                        os.unlink(entry, dir_fd=fd)
                except FileNotFoundError:
                    pass

    def remove_tree(self, relative: str) -> None:
        """Remove the folder ``relative`` (not a symlink) and everything in it, never following a symlink."""
        with self._parent(relative) as found:
            if found is not None:
                self._remove_tree_at(*found)

    @classmethod
    def _remove_tree_at(cls, parent: int, name: str) -> None:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except OSError:  # gone, a symlink, or not a folder
            return
        try:
            for entry in os.listdir(fd):
                try:
                    if stat.S_ISDIR(os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mode):
                        cls._remove_tree_at(fd, entry)
                    else:
                        os.unlink(entry, dir_fd=fd)
                except FileNotFoundError:
                    pass
        finally:
            os.close(fd)
        try:
            os.rmdir(name, dir_fd=parent)
        except OSError:
            pass

    def remove_folder(self, relative: str) -> None:
        """Remove the folder ``relative`` if it is one (not a symlink) and empty."""
        with self._parent(relative) as found:
            if found is None:
                return
            fd, name = found
            try:
                if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    os.rmdir(name, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
                    raise


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def write_records(out: Path, history: Iterable[dict[str, Any]]) -> None:
    """``metrics.jsonl`` and ``summary.csv`` from the whole history (rewritten, so a resume never duplicates)."""
    history = list(history)
    lines = "".join(json.dumps(strict_json(h), allow_nan=False) + "\n" for h in history)
    atomic_write_text(out / "metrics.jsonl", lines)
    rows = [",".join(CSV_COLUMNS)] + [",".join(_csv_cell(strict_json(h.get(c))) for c in CSV_COLUMNS) for h in history]
    atomic_write_text(out / "summary.csv", "\n".join(rows) + "\n")


def write_summary(out: str | os.PathLike, summary: dict[str, Any]) -> None:
    """``summary.json``, its one writer: a run's summary as strict JSON."""
    atomic_write_text(Path(out) / "summary.json", json.dumps(strict_json(summary), indent=2) + "\n")


def write_args(out: Path, args: dict[str, Any], data_config: dict[str, Any] | None = None) -> None:
    """``args.yaml``: the resolved settings, those the command line left unset filled from ``data_config``
    (the model's resolved data config)."""
    import yaml

    resolved = resolved_data_settings(data_config) if data_config else {}
    args = {**args, **{k: v for k, v in resolved.items() if args.get(k) is None}}
    atomic_write_text(out / "args.yaml", yaml.safe_dump(strict_json(plain(args)), sort_keys=True))


def resolved_data_settings(data_config: dict[str, Any]) -> dict[str, Any]:
    """A data config (``DataConfig.to_dict()``) under the flags' names: ``img_size`` (one number when
    square, else ``[H, W]``), ``mean``, ``std``, ``interpolation``, ``crop_pct``."""
    settings = {k: data_config[k] for k in ("mean", "std", "interpolation", "crop_pct") if k in data_config}
    size = data_config.get("input_size")
    if isinstance(size, (list, tuple)) and len(size) == 3:
        settings["img_size"] = size[1] if size[1] == size[2] else [size[1], size[2]]
    return settings


def plain(value: Any) -> Any:
    """``value`` as plain dicts, lists, strings and numbers (anything else as its string)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)  # str subclasses (torch's version string) as plain text
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def check_resume_settings(
    saved: dict[str, Any], current: dict[str, Any], keys: Iterable[str], *, override: bool = False
) -> None:
    """Refuse to resume when a setting that changes the run's meaning differs (unless ``override``)."""
    changed = [k for k in keys if k in saved and k in current and plain(saved[k]) != plain(current[k])]
    if changed and not override:
        details = ", ".join(f"{k}: {saved[k]!r} -> {current[k]!r}" for k in changed)
        raise CheckpointError(
            f"cannot resume: the run was made with other settings ({details}); "
            f"pass --resume-override to continue anyway, or start a new --out"
        )

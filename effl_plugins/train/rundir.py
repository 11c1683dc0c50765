"""A run directory (``--out DIR``): what a run writes, and the rules that keep two runs apart.

Files (timm's layout where it has one): ``checkpoint.pt`` (last epoch), ``model_best.pt`` (best eval
epoch), ``args.yaml`` (every resolved setting and the versions), ``summary.csv`` (one row per epoch,
timm's ``update_summary`` columns), ``metrics.jsonl`` (strict JSON, one object per epoch) and
``summary.json``. Every file is written atomically.

Rules, checked before any training: ``--out`` must not be a file; one writer at a time (a lock);
a directory holding a finished or started run is not reused without ``resume`` (continue it) or
``overwrite`` (replace it); ``resume`` needs a checkpoint there.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, EfflError
from .checkpoints import CHECKPOINT_NAME, atomic_write_text

__all__ = [
    "RunDirectoryError",
    "check_run_directory",
    "write_records",
    "strict_json",
    "BEST_NAME",
    "RUN_FILES",
    "CSV_COLUMNS",
    "write_args",
    "plain",
]

BEST_NAME = "model_best.pt"
RUN_FILES = (CHECKPOINT_NAME, BEST_NAME, "args.yaml", "summary.csv", "metrics.jsonl", "summary.json")
#: The columns of timm's ``update_summary`` (train loss, eval loss and accuracies, learning rate).
CSV_COLUMNS = ("epoch", "train_loss", "eval_loss", "eval_top1", "eval_top5", "lr")


class RunDirectoryError(EfflError, ValueError):
    """``--out`` cannot be used as asked (a file, a finished run without ``--overwrite``, ...)."""


def check_run_directory(out_dir: str | Path | None, *, resume: bool, overwrite: bool = False) -> Path | None:
    """Apply the rules above; with ``overwrite`` the old run's files are removed. Returns the path."""
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
    if has_run and overwrite and not resume:
        _remove_run(out)
    return out


def _has_nested_checkpoint(out: Path) -> bool:
    return out.is_dir() and any(out.rglob(CHECKPOINT_NAME))


def _remove_run(out: Path) -> None:
    """Remove a run's own files: the top-level run files and sub-runs (folders holding run files or label
    stores); anything else in the directory stays."""
    for entry in out.iterdir():
        if entry.is_file() and entry.name in RUN_FILES:
            entry.unlink()
        elif entry.is_dir() and not entry.is_symlink() and _holds_run(entry):
            shutil.rmtree(entry)


def _holds_run(folder: Path) -> bool:
    patterns = (*RUN_FILES, "manifest-rank*.json", "round.json", "*.safetensors")
    return any(next(folder.rglob(p), None) is not None for p in patterns)


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


def write_args(out: Path, args: dict[str, Any]) -> None:
    """``args.yaml``: the resolved settings, plus the versions of effl, torch and timm."""
    import yaml

    atomic_write_text(out / "args.yaml", yaml.safe_dump(strict_json(plain(args)), sort_keys=True))


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

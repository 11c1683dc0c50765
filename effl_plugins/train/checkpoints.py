"""Files that survive a crash, and the process state a checkpoint needs to resume exactly.

Every write goes through :func:`~effl_plugins.written.replace_atomically` (a temporary file beside its
target, flushed, then ``os.replace``d: a kill leaves the old file or the new one; a failed write raises one
``CheckpointError`` naming the file), listed first in the run's ``written.json`` (``effl_plugins.written``).
Checkpoints are read with ``weights_only=True``, so the RNG states are stored as tensors and numbers.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import Checkpoint
from ..written import file_mode, make_dirs, register_file, replace_atomically, temporary_prefix

__all__ = [
    "CHECKPOINT_NAME",
    "file_mode",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_save",
    "temporary_prefix",
    "remove_temporaries",
    "load_checkpoint",
    "rng_state",
    "set_rng_state",
]

#: The file name of a run's checkpoint inside its output folder.
CHECKPOINT_NAME = "checkpoint.pt"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    _atomic(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to a temporary file beside ``path``, then rename it into place."""
    _atomic(path, lambda handle: handle.write(text.encode()))


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` into a temporary file beside ``path``, then rename it into place."""
    _atomic(path, lambda handle: torch.save(obj, handle))


def remove_temporaries(directory: str | os.PathLike, pattern: str = "*") -> list[Path]:
    """Delete the temporary files that writes of ``directory/pattern`` left behind (a killed
    process leaves them); returns what was removed. Call it only while holding the directory's
    lock (``effl_plugins.lock.exclusive_lock``): another writer's temporary files look the same."""
    removed = []
    for stray in Path(directory).glob(f".{pattern}.tmp-*"):
        if stray.is_file() and not stray.is_symlink():
            stray.unlink(missing_ok=True)
            removed.append(stray)
    return removed


def _atomic(path: str | os.PathLike, write: Callable[[Any], Any]) -> None:
    """Write ``path`` atomically, its folder made and the file listed in the run's record first."""
    path = Path(path)
    make_dirs(path.parent)
    register_file(path)
    replace_atomically(path, write)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A training checkpoint to resume from (:meth:`~effl_plugins.checkpoint.Checkpoint.training_state`)."""
    return Checkpoint.read(path).training_state()


def rng_state() -> dict[str, Any]:
    """Every RNG state of this process as tensors and numbers (``weights_only`` loadable)."""
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": torch.tensor(mt, dtype=torch.int64),
        "python_version": int(version),
        "python_gauss": float("nan") if gauss is None else float(gauss),
        "numpy": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured (CUDA states only where CUDA is available)."""
    torch.set_rng_state(state["torch"])
    gauss = state["python_gauss"]
    random.setstate(
        (state["python_version"], tuple(int(v) for v in state["python"].tolist()), None if math.isnan(gauss) else gauss)
    )
    keys = state["numpy"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

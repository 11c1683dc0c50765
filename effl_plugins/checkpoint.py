"""A checkpoint file, read once (weights only: reading a file someone hands you never runs code): its model
weights and what the effl run that wrote it recorded (``arch``, ``num_classes``, ``class_names``,
``data_config``, ``args``; plain weights record none). Every problem is one ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

__all__ = ["Checkpoint", "check_checkpoint_file", "exception_line", "MAX_CLASSES"]

#: The most classes a checkpoint's record may claim (a head of that size is built before loading).
MAX_CLASSES = 1_000_000


def exception_line(exc: BaseException) -> str:
    """``"EOFError: Ran out of input"``: the exception's type and the first line of its message, if any."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def check_checkpoint_file(path: str | os.PathLike, spec: str | None = None) -> Path:
    """``path`` as a ``Path`` when it is a non-empty regular file (a symlink judged by its target); else
    ``CheckpointError`` naming the file (and the model ``spec`` it came from) and what it is instead."""
    path = Path(path)
    where = f" (from model spec {spec!r})" if spec else ""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file not found: {str(path)!r}{where}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}{where}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
        raise CheckpointError(f"checkpoint {str(path)!r}{where} is {kind}, not a regular file")
    if info.st_size == 0:
        raise CheckpointError(f"checkpoint {str(path)!r}{where} is empty (0 bytes)")
    return path


def _load(path: Path) -> Any:
    """What ``path`` holds: a safetensors dict of tensors, or a torch file read with ``weights_only=True``."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable or unsafe file
        raise CheckpointError(f"cannot read checkpoint {str(path)!r} as weights only: {exception_line(exc)}") from exc


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint file's contents (``contents``: what the file holds, read once from ``path``)."""

    path: Path
    contents: Any

    @classmethod
    def read(cls, path: str | os.PathLike, spec: str | None = None) -> Checkpoint:
        """Check and read ``path`` (``spec``: the ``NAME:CKPT`` it came from, named in errors)."""
        path = check_checkpoint_file(path, spec)
        return cls(path, _load(path))

    @property
    def record(self) -> dict[str, Any]:
        """The file's top-level entries (``{}`` for safetensors, which hold weights only, and for a file that is
        not a dict)."""
        plain = self.path.suffix == ".safetensors" or not isinstance(self.contents, dict)
        return {} if plain else self.contents

    @property
    def state(self) -> dict[str, torch.Tensor]:
        """The model weights: a training checkpoint's ``model`` (or ``state_dict``) entry, else the file's dict."""
        state = self.contents
        for key in ("model", "state_dict"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"checkpoint {str(self.path)!r} holds no state dict of tensors")
        return state

    @property
    def arch(self) -> str | None:
        """The timm architecture the run recorded (``arch``), else None."""
        arch = self.record.get("arch")
        return arch if isinstance(arch, str) else None

    @property
    def args(self) -> dict[str, Any]:
        """The run's recorded settings (``args``; ``{}`` where absent)."""
        args = self.record.get("args")
        return args if isinstance(args, dict) else {}

    @property
    def data_config(self) -> dict[str, Any] | None:
        """The data config the run trained with (``data_config``), else None."""
        config = self.record.get("data_config")
        return config if isinstance(config, dict) else None

    @property
    def num_classes(self) -> int | None:
        """The recorded class count (None where absent); a recorded value that is not an int in
        ``1..MAX_CLASSES`` is a ``CheckpointError``."""
        count = self.record.get("num_classes")
        if count is None:
            return None
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_CLASSES:
            raise CheckpointError(
                f"checkpoint {str(self.path)!r} records num_classes={count!r}; expected an int in 1..{MAX_CLASSES}"
            )
        return count

    def class_names(self, num_classes: int) -> list[str]:
        """The recorded class names, checked to be ``num_classes`` strings; ``"0"``, ``"1"``, ... where the file
        records none. Recorded names of another count or type are a ``CheckpointError``."""
        names = self.record.get("class_names")
        if names is None or names == []:
            return [str(i) for i in range(num_classes)]
        strings = isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names)
        if not strings or len(names) != num_classes:
            raise CheckpointError(
                f"checkpoint {str(self.path)!r} records class_names that are not {num_classes} strings (one per class)"
            )
        return list(names)

    def head_classes(self, classifier: str) -> int | None:
        """The rows of the ``classifier`` layer's weight (its class count), or None where the weights lack it."""
        weight = self.state.get(f"{classifier}.weight")
        return None if weight is None else int(weight.shape[0])

    def training_state(self) -> dict[str, Any]:
        """The whole record of an effl training checkpoint (one with ``model`` and ``epoch`` entries), to
        resume from; anything else is a ``CheckpointError``."""
        if "model" not in self.record or "epoch" not in self.record:
            raise CheckpointError(f"{str(self.path)!r} is not an effl training checkpoint (no 'model'/'epoch' entries)")
        return self.record

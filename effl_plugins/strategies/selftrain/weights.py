"""A model's weights as a file: saved as safetensors, and hashed to name the teacher that labelled a store."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from ...models import parse_model_spec
from ...train.checkpoints import atomic_write_bytes
from .store import file_hash, state_dict_hash

__all__ = ["model_hash", "save_weights"]


def model_hash(spec: str, model: nn.Module) -> str:
    """sha256 of the checkpoint file named by ``spec``, else of the model's state dict."""
    _, path = parse_model_spec(spec)
    return file_hash(path) if path is not None else state_dict_hash(model)


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """The model's state dict as safetensors (loadable by ``create_model("NAME:PATH", ...)``), atomically."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}))
    return path

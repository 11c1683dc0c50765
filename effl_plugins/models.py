"""Any timm backbone from a ``NAME[:CHECKPOINT]`` spec, random init, hub weights or a local file.

Checkpoints are read with ``torch.load(weights_only=True)`` or safetensors: loading a file someone
hands you never runs code.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError, EfflError

__all__ = ["parse_model_spec", "create_model", "load_state_dict", "check_checkpoint_file", "UnknownModelError"]


class UnknownModelError(EfflError, ValueError):
    """The model name is not one of timm's architectures."""


def parse_model_spec(spec: str) -> tuple[str, Path | None]:
    """``"resnet18"`` -> ("resnet18", None); ``"resnet18:/ckpt/teacher.pt"`` -> ("resnet18", Path(...))."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"model spec must be 'NAME' or 'NAME:CHECKPOINT', got {spec!r}")
    name, sep, path = spec.partition(":")
    if sep and not path:
        raise ValueError(f"model spec {spec!r} has an empty checkpoint path after ':'")
    return name, (Path(path) if sep else None)


def check_model_name(name: str) -> str:
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
        raise UnknownModelError(f"unknown timm model {name!r}{hint}")
    return name


def check_checkpoint_file(path: str | os.PathLike, spec: str | None = None) -> Path:
    """``path`` as a ``Path`` when it is a non-empty regular file (a symlink judged by its target);
    else ``CheckpointError`` naming the file and what it is (missing, a directory, a device, empty)."""
    import stat

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


def _reason(exc: BaseException) -> str:
    """``"EOFError: Ran out of input"``: the exception's type and the first line of its message, if any."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A model state dict from ``.safetensors`` or a torch file (``weights_only=True``).

    A full training checkpoint (a dict with a ``"model"`` entry) gives its model weights.
    """
    path = check_checkpoint_file(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable or unsafe file
        raise CheckpointError(f"cannot read checkpoint {str(path)!r} as weights only: {_reason(exc)}") from exc
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {str(path)!r} holds no state dict of tensors")
    return state


def _check_values(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse weights that would train to NaN (non-finite values) or lose meaning by a silent cast
    (an integer or boolean tensor where the model holds floats)."""
    for key, tensor in state.items():
        target = own.get(key)
        if target is None:
            continue
        if target.is_floating_point() and not tensor.is_floating_point():
            raise CheckpointError(
                f"checkpoint {str(path)!r}: {key!r} holds {tensor.dtype} values where the model "
                f"expects {target.dtype}; refusing a silent cast"
            )
        if tensor.is_floating_point() and tensor.numel() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"checkpoint {str(path)!r}: {key!r} holds {bad} NaN or infinite values")


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    own = model.state_dict()
    _check_values(own, state, path)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and state[k].shape != own[k].shape]
    head = set(_classifier_keys(model))
    if unexpected or [k for k in missing + mismatched if k not in head]:
        bad = (unexpected + missing + mismatched)[:5]
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not fit model {name!r}: {len(missing)} missing, {len(unexpected)} "
            "unexpected, "
            f"{len(mismatched)} mismatched keys (e.g. {bad}); was it saved from another architecture?"
        )
    model.load_state_dict({k: v for k, v in state.items() if k not in mismatched and k not in missing}, strict=False)


def _classifier_keys(model: nn.Module) -> list[str]:
    names = getattr(model, "pretrained_cfg", {}).get("classifier", "") or ""
    names = [names] if isinstance(names, str) else list(names)
    return [k for k in model.state_dict() if any(k.startswith(n + ".") for n in names if n)]


def _check_hub_reachable(name: str, timeout: float = 3.0) -> None:
    """One quick connection to the hub; without it, a clear error now instead of minutes of retries."""
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme != "http" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise CheckpointError(
            f"pretrained weights for {name!r} need the Hugging Face hub, but {host}:{port} is unreachable ({exc}); "
            f"pass a local checkpoint as '{name}:PATH'"
        ) from exc


def create_model(spec: str, num_classes: int, *, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Build a timm model from ``NAME[:CHECKPOINT]`` with a ``num_classes`` head.

    A checkpoint's head is kept when its class count matches, else re-initialised (the transfer
    learning case). ``pretrained=True`` needs the hub; without one (``HF_HUB_OFFLINE=1``) it fails
    fast with a clear error.
    """
    import timm

    name, path = parse_model_spec(spec)
    check_model_name(name)
    if path is not None:
        check_checkpoint_file(path, spec)
    if pretrained and path is None and os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        raise CheckpointError(
            f"pretrained weights for {name!r} need the Hugging Face hub, but HF_HUB_OFFLINE is set; "
            f"pass a local checkpoint as '{name}:PATH' or unset HF_HUB_OFFLINE"
        )
    if pretrained and path is None:
        _check_hub_reachable(name)
    try:
        model = timm.create_model(name, pretrained=pretrained and path is None, num_classes=num_classes, **kwargs)
    except (OSError, RuntimeError) as exc:
        if pretrained:
            raise CheckpointError(f"cannot fetch pretrained weights for {name!r}: {exc}") from exc
        raise
    if path is not None:
        _load_into(model, load_state_dict(path), path, name)
    return model

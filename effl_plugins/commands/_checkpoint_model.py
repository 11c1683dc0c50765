"""A trained model from ``NAME:CKPT`` with what its run recorded: class names, class count, data config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TrainedModel", "load_trained_model"]


@dataclass
class TrainedModel:
    """``model`` (eval mode, on ``device``), its ``model_input`` and ``data_config``, ``class_names``."""

    model: Any
    model_input: Any
    data_config: Any
    class_names: list[str]
    device: str


def _checkpoint_record(path) -> dict[str, Any]:
    import torch

    from ..errors import CheckpointError

    if path.suffix == ".safetensors":
        return {}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable or unsafe file
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r} as weights only: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        ) from None
    return state if isinstance(state, dict) else {}


def load_trained_model(spec: str, device: str, *, img_size: int | None = None) -> TrainedModel:
    """Build ``NAME:CKPT``: the class count and names and the data config come from the checkpoint
    (an effl run's ``checkpoint.pt`` / ``model_best.pt``), else from its classifier and timm's config."""
    from ..errors import CheckpointError
    from ..models import create_model, parse_model_spec
    from ..train import ModelInput
    from ._training import model_data_config

    name, path = parse_model_spec(spec)
    if path is None:
        raise ValueError(f"--model must be NAME:CHECKPOINT (a trained model), got {spec!r}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {str(path)!r}")
    record = _checkpoint_record(path)
    num_classes = record.get("num_classes")
    if not num_classes:
        from .pseudo_label import checkpoint_classes

        num_classes = checkpoint_classes(spec)
    names = list(record.get("class_names") or []) or [str(i) for i in range(num_classes)]
    model = create_model(spec, int(num_classes)).to(device).eval()
    saved = record.get("data_config")
    config = model_data_config(name, saved if isinstance(saved, dict) else None, {"img_size": img_size})
    return TrainedModel(model, ModelInput.from_config(config).to(device), config, names, device)

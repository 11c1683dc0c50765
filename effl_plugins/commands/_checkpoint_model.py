"""A trained model from ``NAME:CKPT`` with what its run recorded: class names, class count, data config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TrainedModel", "load_trained_model", "check_model_spec"]


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
    from ..models import _reason

    if path.suffix == ".safetensors":
        return {}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable or unsafe file
        raise CheckpointError(f"cannot read checkpoint {str(path)!r} as weights only: {_reason(exc)}") from None
    return state if isinstance(state, dict) else {}


#: The most classes a checkpoint's record may claim (its head is built before the weights are loaded).
MAX_CLASSES = 1_000_000


def _class_names(path, num_classes: Any, names: Any) -> list[str]:
    """The record's class names, checked: ``num_classes`` a positive int, names (when given) that many strings."""
    from ..errors import CheckpointError

    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= MAX_CLASSES:
        raise CheckpointError(
            f"checkpoint {str(path)!r} records num_classes={num_classes!r}; expected an int in 1..{MAX_CLASSES}"
        )
    if names is None or names == []:
        return [str(i) for i in range(num_classes)]
    if not isinstance(names, (list, tuple)) or len(names) != num_classes or not all(isinstance(n, str) for n in names):
        raise CheckpointError(
            f"checkpoint {str(path)!r} records class_names that are not {num_classes} strings (one per class)"
        )
    return list(names)


def check_model_spec(spec: str):
    """``(name, checkpoint path)`` of ``NAME:CKPT``, the file checked (it exists, is regular, is not empty)
    before anything is built: ``ValueError`` or ``CheckpointError`` naming what is wrong."""
    from ..models import check_checkpoint_file, parse_model_spec

    name, path = parse_model_spec(spec)
    if path is None:
        raise ValueError(f"--model must be NAME:CHECKPOINT (a trained model), got {spec!r}")
    return name, check_checkpoint_file(path)


def load_trained_model(spec: str, device: str, *, img_size: int | None = None) -> TrainedModel:
    """Build ``NAME:CKPT``: the class count and names and the data config come from the checkpoint
    (an effl run's ``checkpoint.pt`` / ``model_best.pt``), else from its classifier and timm's config."""
    from ..models import create_model
    from ..train import ModelInput
    from ._training import model_data_config

    name, path = check_model_spec(spec)
    record = _checkpoint_record(path)
    num_classes = record.get("num_classes")
    if num_classes is None:
        from .pseudo_label import checkpoint_classes

        num_classes = checkpoint_classes(spec)
    names = _class_names(path, num_classes, record.get("class_names"))
    model = create_model(spec, int(num_classes), img_size=img_size).to(device).eval()  # None: the checkpoint's
    saved = record.get("data_config")
    config = model_data_config(name, saved if isinstance(saved, dict) else None, {"img_size": img_size})
    return TrainedModel(model, ModelInput.from_config(config).to(device), config, names, device)

"""A trained model from ``NAME:CKPT`` with what its run recorded: class names, class count, data config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrainedModel", "load_trained_model", "check_model_spec"]


@dataclass
class TrainedModel:
    """``model`` (eval mode, on ``device``), its ``model_input`` and ``data_config``, ``class_names``, and the
    settings its run recorded (``args``; ``{}`` for plain weights)."""

    model: Any
    model_input: Any
    data_config: Any
    class_names: list[str]
    device: str
    args: dict[str, Any] = field(default_factory=dict)


def check_model_spec(spec: str):
    """``(name, checkpoint path)`` of ``NAME:CKPT``, the file checked (it exists, is regular, is not empty)
    before anything is built: ``ValueError`` or ``CheckpointError`` naming what is wrong."""
    from ..checkpoint import check_checkpoint_file
    from ..models import parse_model_spec

    name, path = parse_model_spec(spec)
    if path is None:
        raise ValueError(f"--model must be NAME:CHECKPOINT (a trained model), got {spec!r}")
    return name, check_checkpoint_file(path)


def load_trained_model(spec: str, device: str, *, img_size: int | None = None) -> TrainedModel:
    """Build ``NAME:CKPT``, its file read once: the class count and names and the data config come from the
    checkpoint (an effl run's ``checkpoint.pt`` / ``model_best.pt``), else from its classifier and timm's
    config; ``img_size`` None builds at the checkpoint's size."""
    from ..checkpoint import Checkpoint
    from ..models import checkpoint_classes, create_model
    from ..train import ModelInput
    from ._training import model_data_config

    name, path = check_model_spec(spec)
    checkpoint = Checkpoint.read(path)
    num_classes = checkpoint.num_classes or checkpoint_classes(name, checkpoint)
    names = checkpoint.class_names(num_classes)
    model = create_model(spec, num_classes, img_size=img_size, checkpoint=checkpoint).to(device).eval()
    config = model_data_config(name, checkpoint.data_config, {"img_size": img_size})
    model_input = ModelInput.from_config(config).to(device)
    return TrainedModel(model, model_input, config, names, device, dict(checkpoint.args))

"""Any timm backbone from a ``NAME[:CHECKPOINT]`` spec, random init, hub weights or a local file, at the
input size the run uses (:func:`model_build_kwargs`); a checkpoint is read once, weights only, by
:class:`~effl_plugins.checkpoint.Checkpoint`.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import Checkpoint, exception_line
from .errors import CheckpointError, EfflError

__all__ = [
    "parse_model_spec",
    "create_model",
    "model_build_kwargs",
    "default_input_size",
    "checkpoint_classes",
    "UnknownModelError",
    "ModelSizeError",
]


class UnknownModelError(EfflError, ValueError):
    """The model name is not one of timm's architectures."""


class ModelSizeError(EfflError, ValueError):
    """The model cannot be built for the requested input size, or refuses a ``--model-kwargs`` argument."""


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


def _check_values(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse non-finite weights and integer or boolean tensors where the model holds floats."""
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


def _adapt_to_model(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` through the architecture's own timm ``checkpoint_filter_fn`` when some weights' shapes differ
    from the model's (a ViT's position embeddings resampled to its grid); else ``state`` unchanged."""
    own = model.state_dict()
    if all(key not in own or own[key].shape == value.shape for key, value in state.items()):
        return state
    adapt = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    if adapt is None:
        return state
    try:
        return adapt(dict(state), model)
    except Exception:  # noqa: BLE001 - a filter that cannot adapt: the shape check below names the keys
        return state


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    state = _adapt_to_model(model, state)
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


def _square(value: Any, what: str) -> int:
    """An input size given as ``N`` or ``(N, N)`` as ``N``; else ``ModelSizeError`` naming ``what``."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelSizeError(f"{what}: expected a positive integer N (a square N x N input), got {value!r}")
    return value


def _meta_model(name: str, **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, **kwargs)`` on the meta device: its structure and config, no weights."""
    import timm

    with torch.device("meta"):
        return timm.create_model(name, pretrained=False, **kwargs)


def _default_size(model: nn.Module) -> tuple[int, int]:
    """The (H, W) input size of the model's ``pretrained_cfg``."""
    return tuple(int(v) for v in model.pretrained_cfg.get("input_size", (3, 224, 224))[-2:])


def default_input_size(name: str) -> int:
    """The input height of timm model ``name``'s ``pretrained_cfg`` (built on the meta device)."""
    return _default_size(_meta_model(name))[0]


def _forward_error(model: nn.Module, size: int) -> str | None:
    """Why ``model`` (on the meta device) cannot take a ``size`` x ``size`` batch, or None when it can (or
    when an operation has no meta kernel, which says nothing about sizes)."""
    try:
        with torch.no_grad():
            model.eval()(torch.empty(2, 3, size, size, device="meta"))
    except NotImplementedError:
        return None
    except Exception as exc:  # noqa: BLE001 - the model's own shape check, whatever its type
        return exception_line(exc)
    return None


def model_build_kwargs(
    name: str, img_size: int | None = None, model_kwargs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The keyword arguments that build timm model ``name`` for ``img_size`` x ``img_size`` input.

    ``model_kwargs`` (``--model-kwargs``) plus, when ``img_size`` differs from the model's default and its
    constructor takes one, ``img_size`` (timm resamples pretrained position embeddings, as ``--model-kwargs
    img_size=N`` does in timm's train.py); a CNN takes any size as it is. The model is built and run once on
    the meta device: a size or argument it cannot take is a one-line ``ModelSizeError``.
    """
    kwargs = dict(model_kwargs or {})
    size = _square(img_size, "--img-size") if img_size is not None else None
    if "img_size" in kwargs:
        given = _square(kwargs["img_size"], "--model-kwargs img_size")
        if size is not None and given != size:
            raise ModelSizeError(f"--model-kwargs img_size={given} differs from --img-size {size}; pass one size")
        size = kwargs["img_size"] = given
    where = f" with --model-kwargs {' '.join(f'{key}={value!r}' for key, value in kwargs.items())}" if kwargs else ""
    try:
        model = _meta_model(name, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a keyword the model refuses, whatever its type
        raise ModelSizeError(f"model {name!r} cannot be built{where}: {exception_line(exc)}") from None
    default = _default_size(model)
    if size is None or (size, size) == default:
        return kwargs
    if "img_size" not in kwargs:
        try:
            model = _meta_model(name, img_size=size, **kwargs)
            kwargs["img_size"] = size
        except Exception as exc:  # noqa: BLE001 - the constructor's own size check, whatever its type
            if not isinstance(exc, TypeError) or "img_size" not in str(exc):
                reason = exception_line(exc)
                raise ModelSizeError(f"--img-size {size}: model {name!r} cannot be built for it: {reason}") from None
            if model.pretrained_cfg.get("fixed_input_size"):  # no img_size argument: a CNN takes any size as built
                raise ModelSizeError(
                    f"--img-size {size}: model {name!r} takes only {default[0]}x{default[1]} input (it has no "
                    f"img_size argument); use --img-size {default[0]} or a model that takes img_size (vit_*, swin_*)"
                ) from None
    problem = _forward_error(model, size)
    if problem is not None:
        raise ModelSizeError(
            f"--img-size {size}: model {name!r} cannot take {size}x{size} input ({problem}); "
            f"its default is {default[0]}"
        )
    return kwargs


def _saved_build(checkpoint: Checkpoint, name: str) -> tuple[int | None, dict[str, Any] | None]:
    """The input size and ``model_kwargs`` an effl training checkpoint of model ``name`` was built with (None
    where absent; ``model_kwargs`` only from a run whose own model is ``name``)."""
    config, args = checkpoint.data_config, checkpoint.args
    size = None
    if config is not None and isinstance(config.get("input_size"), (list, tuple)):
        height, width = config["input_size"][-2:]
        size = int(height) if height == width else None
    kwargs = args.get("model_kwargs")
    own = str(args.get("model", "")).partition(":")[0] == name
    return size, (dict(kwargs) if own and isinstance(kwargs, dict) else None)


def create_model(
    spec: str,
    num_classes: int,
    *,
    pretrained: bool = False,
    img_size: int | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    checkpoint: Checkpoint | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a timm model from ``NAME[:CHECKPOINT]`` with a ``num_classes`` head, for ``img_size`` input.

    A checkpoint's head is kept when its class count matches, else re-initialised (transfer learning).
    ``pretrained=True`` needs the hub and fails fast without one. ``img_size``/``model_kwargs``: see
    :func:`model_build_kwargs`; an effl checkpoint's own when not given. ``checkpoint``: the file ``spec``
    names, when the caller has read it already. Weights saved at another size are adapted by timm's
    ``checkpoint_filter_fn``; the model's ``pretrained_cfg["input_size"]`` reports the size it was built for.
    """
    import timm

    name, path = parse_model_spec(spec)
    check_model_name(name)
    if path is not None:
        checkpoint = checkpoint or Checkpoint.read(path, spec)
        saved_size, saved_kwargs = _saved_build(checkpoint, name)
        img_size = saved_size if img_size is None else img_size
        model_kwargs = saved_kwargs if model_kwargs is None else model_kwargs
    build = model_build_kwargs(name, img_size, model_kwargs) if img_size is not None or model_kwargs else {}
    if pretrained and path is None and os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        raise CheckpointError(
            f"pretrained weights for {name!r} need the Hugging Face hub, but HF_HUB_OFFLINE is set; "
            f"pass a local checkpoint as '{name}:PATH' or unset HF_HUB_OFFLINE"
        )
    if pretrained and path is None:
        _check_hub_reachable(name)
    try:
        model = timm.create_model(
            name, pretrained=pretrained and path is None, num_classes=num_classes, **{**kwargs, **build}
        )
    except (OSError, RuntimeError) as exc:
        if pretrained:
            raise CheckpointError(f"cannot fetch pretrained weights for {name!r}: {exc}") from exc
        raise
    if "img_size" in build:
        size = build["img_size"]
        model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, size, size)}
    if path is not None:
        _load_into(model, checkpoint.state, path, name)
    return model


def checkpoint_classes(name: str, checkpoint: Checkpoint) -> int:
    """The class count of timm model ``name``'s classifier in ``checkpoint``'s weights; ``CheckpointError``
    where the weights hold no such layer."""
    import timm

    classifier = timm.create_model(name, num_classes=2).pretrained_cfg.get("classifier") or "fc"
    count = checkpoint.head_classes(classifier)
    if count is None:
        raise CheckpointError(
            f"cannot find the classifier {classifier!r}.weight in checkpoint {str(checkpoint.path)!r}"
        )
    return count

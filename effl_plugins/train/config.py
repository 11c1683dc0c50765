"""The settings every training run shares, with timm ``train.py``'s names and meanings.

The field names are the ``effl`` flags' argparse destinations (``--clip-grad`` -> ``clip_grad``), so
a command line, a ``-c FILE.yaml`` and a Python call all fill the same object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .._validate import choice, fraction, integer, non_negative, positive
from ..errors import SettingRefusedError

__all__ = [
    "TrainConfig",
    "AMP_MODES",
    "MIXUP_MODES",
    "NONFINITE_POLICIES",
    "REFUSABLE_SETTINGS",
    "SettingRefusedError",
    "setting_is_on",
    "refuse_settings",
]

AMP_MODES = ("auto", "bf16", "fp16", "off")
MIXUP_MODES = ("batch", "pair", "elem")
#: Random Erasing's values (timm's ``--remode``): zeros, a normal colour per box, normal noise per pixel.
ERASE_MODES = ("const", "rand", "pixel")
#: What a step whose loss is NaN or infinite does: stop the run with an error, or skip the update.
NONFINITE_POLICIES = ("stop", "skip")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (timm ``train.py`` names).

    Optimisation: ``opt``/``opt_eps``/``momentum``/``weight_decay`` go to timm's ``create_optimizer_v2``;
    ``sched``/``warmup_epochs``/``warmup_lr``/``min_lr`` to ``create_scheduler_v2`` (``sched="none"``
    keeps ``lr``). ``amp``: ``"auto"`` (bf16 on CUDA where supported, else fp16; off on the CPU),
    ``"bf16"``, ``"fp16"`` or ``"off"``. ``clip_grad``: max gradient norm. ``grad_accum_steps``:
    micro-batches per optimizer step. ``model_ema``: keep a timm ``ModelEmaV3`` (decay
    ``model_ema_decay``) and report its accuracy too. ``smoothing``: label smoothing of the
    cross-entropy. ``mixup``/``cutmix`` (alphas, 0 = off), ``cutmix_minmax``, ``mixup_prob``,
    ``mixup_switch_prob``, ``mixup_mode``: timm's mixing flags. ``aug``: a batch augmentation SPEC
    run on the device. ``reprob``/``remode``/``recount``: timm's Random Erasing (probability, values, most
    boxes) of each image, as it reads after the model's normalisation. ``workers``/``pin_mem``: the DataLoader. ``nonfinite``: ``"stop"`` raises on a
    non-finite loss naming the epoch and step, ``"skip"`` drops that update (as AMP's scaler does).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"
    opt: str = "adamw"
    opt_eps: float | None = None
    momentum: float = 0.9
    sched: str = "cosine"
    warmup_epochs: int = 0
    warmup_lr: float = 1e-5
    min_lr: float = 0.0
    amp: str = "auto"
    clip_grad: float | None = None
    grad_accum_steps: int = 1
    model_ema: bool = False
    model_ema_decay: float = 0.9998
    channels_last: bool = False
    smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    cutmix_minmax: tuple[float, float] | None = None
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5
    mixup_mode: str = "batch"
    reprob: float = 0.0
    remode: str = "pixel"
    recount: int = 1
    aug: str | None = None
    workers: int = 0
    pin_mem: bool = False
    nonfinite: str = "stop"
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum_steps", "recount"):
            integer(getattr(self, name), name, low=1)
        for name in ("warmup_epochs", "workers", "seed"):
            integer(getattr(self, name), name, low=0)
        positive(self.lr, "lr")
        for name in ("weight_decay", "warmup_lr", "min_lr", "momentum", "mixup", "cutmix"):
            non_negative(getattr(self, name), name)
        for name in ("opt_eps", "clip_grad"):
            if getattr(self, name) is not None:
                positive(getattr(self, name), name, note="or None")
        for name in ("smoothing", "mixup_prob", "mixup_switch_prob", "model_ema_decay", "reprob"):
            fraction(getattr(self, name), name)
        for name, value, allowed in (
            ("amp", self.amp, AMP_MODES),
            ("mixup_mode", self.mixup_mode, MIXUP_MODES),
            ("remode", self.remode, ERASE_MODES),
            ("nonfinite", self.nonfinite, NONFINITE_POLICIES),
        ):
            choice(value, name, allowed)
        if self.cutmix_minmax is not None:
            low, high = self.cutmix_minmax
            if not 0.0 < low < high <= 1.0:
                raise ValueError(
                    f"cutmix_minmax must be (min, max) with 0 < min < max <= 1, got {self.cutmix_minmax!r}"
                )
            self.cutmix_minmax = (float(low), float(high))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return type(self)(**{**self.to_dict(), **changes})


#: The shared settings a strategy (or task) may refuse because it does not apply them, each with its
#: value when off: its flag's default, except ``smoothing`` (timm's command-line default is 0.1).
REFUSABLE_SETTINGS: dict[str, Any] = {
    "aug": None,
    "image_aug": None,
    "mixup": 0.0,
    "cutmix": 0.0,
    "reprob": 0.0,
    "smoothing": 0.0,
    "model_ema": False,
    "drop": 0.0,
    "drop_path": None,
}


def setting_is_on(name: str, settings: Mapping[str, Any]) -> bool:
    """Whether ``settings`` turn ``name`` on: any value but None, ``""``, 0 and False (``cutmix`` is also on
    with a ``cutmix_minmax``)."""
    if name == "cutmix" and settings.get("cutmix_minmax") is not None:
        return True
    return bool(settings.get(name))


def refuse_settings(who: str, settings: Mapping[str, Any], refusals: Mapping[str, str]) -> None:
    """``SettingRefusedError`` for the first of ``refusals`` (``{setting: reason}``) that ``settings`` turn on.

    The strategies call it when they are built and the engine when it is set up, so a run that sets what
    its strategy does not apply stops before anything is built, written or trained.
    """
    for name, reason in refusals.items():
        if setting_is_on(name, settings):
            raise SettingRefusedError(who, name, reason)

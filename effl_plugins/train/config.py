"""The settings every training run shares, with timm ``train.py``'s names and meanings.

The field names are the ``effl`` flags' argparse destinations (``--clip-grad`` -> ``clip_grad``), so
a command line, a ``-c FILE.yaml`` and a Python call all fill the same object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .._validate import (
    AMP_MODES,
    CLIP_MODES,
    ERASE_MODES,
    MIXUP_MODES,
    choice,
    fraction,
    integer,
    non_negative,
    positive,
)
from ..errors import SettingRefusedError
from .specs import resolved_augmentation
from .trackers import check_available

__all__ = [
    "TrainConfig",
    "AMP_MODES",
    "MIXUP_MODES",
    "NONFINITE_POLICIES",
    "CLIP_MODES",
    "TRACKERS",
    "REFUSABLE_SETTINGS",
    "SettingRefusedError",
    "setting_is_on",
    "refuse_settings",
]

#: What a step whose loss is NaN or infinite does: stop the run with an error, or skip the update.
NONFINITE_POLICIES = ("stop", "skip")
#: Experiment trackers ``log`` may name (``csv`` is ``summary.csv``, which every run writes anyway).
TRACKERS = ("tensorboard", "wandb", "mlflow", "csv")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run, with timm ``train.py``'s names and meanings (its optimizer,
    schedule, MixUp/CutMix, Random Erasing, EMA and model options), and these of effl's own:

    ``amp``: ``"auto"`` (bf16 on CUDA where supported, else fp16; off on the CPU), ``"bf16"``, ``"fp16"`` or
    ``"off"``. ``aug``: a batch augmentation SPEC run on the device, held as a ``ResolvedSpec`` (checked once).
    ``reprob``/``remode``/``recount``: Random Erasing as the image reads after the model's normalisation.
    ``aug_splits``/``jsd_loss``: timm's augmentation splits (0, or N >= 2 views, the first clean, the others
    through ``aug``) and ``JsdCrossEntropy`` over them. ``img_size``: input size for models whose size is
    fixed (None: the model's); ``num_classes`` is checked against the data's. ``validation_batch_size``
    None: ``max(batch_size, 64)``. ``lr_noise``: one or two fractions of the run, seeded by ``seed``.
    ``nonfinite``: ``"stop"`` raises on a non-finite loss, ``"skip"`` drops that update. ``progress``:
    report inside each epoch on stderr (a line every ``log_interval`` steps off a terminal) and a line per
    epoch. ``log``: experiment trackers (``TRACKERS``). ``checkpoint_interval``: save the checkpoint every
    this many optimizer steps of an epoch as well as at its end (0: at the end only).
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
    img_size: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    initial_checkpoint: str | None = None
    num_classes: int | None = None
    torchcompile: str | None = None
    torchcompile_mode: str | None = None
    opt_betas: tuple[float, ...] | None = None
    layer_decay: float | None = None
    decay_epochs: float = 90.0
    decay_milestones: tuple[int, ...] = (90, 180, 270)
    decay_rate: float = 0.1
    cooldown_epochs: int = 0
    patience_epochs: int = 10
    bce_loss: bool = False
    opt_kwargs: dict[str, Any] = field(default_factory=dict)
    grad_checkpointing: bool = False
    validation_batch_size: int | None = None
    clip_mode: str = "norm"
    warmup_prefix: bool = False
    lr_k_decay: float = 1.0
    lr_noise: tuple[float, ...] | None = None
    lr_noise_pct: float = 0.67
    lr_noise_std: float = 1.0
    mixup_off_epoch: int = 0
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
    aug_splits: int = 0
    jsd_loss: bool = False
    aug: str | None = None
    workers: int = 0
    pin_mem: bool = False
    nonfinite: str = "stop"
    progress: bool = True
    log_interval: int = 50
    checkpoint_interval: int = 0
    log: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum_steps", "recount"):
            integer(getattr(self, name), name, low=1)
        for name in ("warmup_epochs", "workers", "seed", "log_interval", "checkpoint_interval"):
            integer(getattr(self, name), name, low=0)
        positive(self.lr, "lr")
        self._check_model_and_schedule()
        for name in ("weight_decay", "warmup_lr", "min_lr", "momentum", "mixup", "cutmix"):
            non_negative(getattr(self, name), name)
        for name in ("opt_eps", "clip_grad"):
            if getattr(self, name) is not None:
                positive(getattr(self, name), name, note="or None")
        for name in ("smoothing", "mixup_prob", "mixup_switch_prob", "model_ema_decay", "reprob"):
            fraction(getattr(self, name), name)
        choice(self.amp, "amp", AMP_MODES)
        choice(self.mixup_mode, "mixup_mode", MIXUP_MODES)
        choice(self.remode, "remode", ERASE_MODES)
        choice(self.nonfinite, "nonfinite", NONFINITE_POLICIES)
        if self.cutmix_minmax is not None:
            low, high = self.cutmix_minmax
            if not 0.0 < low < high <= 1.0:
                raise ValueError(
                    f"cutmix_minmax must be (min, max) with 0 < min < max <= 1, got {self.cutmix_minmax!r}"
                )
            self.cutmix_minmax = (float(low), float(high))
        self.log = tracker_names(self.log)
        self.aug = resolved_augmentation(self.aug)

    def _check_model_and_schedule(self) -> None:
        """Check the model options (``img_size`` ... ``torchcompile``) and timm's optimizer and schedule
        extras (``opt_betas`` ... ``bce_loss``); warn when warm-up covers half the run or more."""
        for name in ("img_size", "num_classes", "validation_batch_size"):
            integer(getattr(self, name), name, low=1, optional=True)
        for name in ("model_kwargs", "opt_kwargs"):
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise ValueError(f"{name} must be a dict of keyword arguments, got {value!r}")
            setattr(self, name, dict(value))
        if self.opt_betas is not None:
            self.opt_betas = tuple(fraction(b, "opt_betas") for b in self.opt_betas)
        if self.layer_decay is not None:
            positive(self.layer_decay, "layer_decay", note="or None")
        positive(self.decay_epochs, "decay_epochs")
        choice(self.clip_mode, "clip_mode", CLIP_MODES)
        positive(self.lr_k_decay, "lr_k_decay")
        non_negative(self.lr_noise_pct, "lr_noise_pct")
        non_negative(self.lr_noise_std, "lr_noise_std")
        if self.lr_noise is not None:
            self.lr_noise = tuple(fraction(n, "lr_noise") for n in self.lr_noise)
            if len(self.lr_noise) not in (1, 2):
                raise ValueError(f"lr_noise must be one or two fractions of the run, got {self.lr_noise!r}")
        non_negative(self.decay_rate, "decay_rate")
        self.decay_milestones = tuple(integer(m, "decay_milestones", low=1) for m in self.decay_milestones)
        for name in ("cooldown_epochs", "patience_epochs", "mixup_off_epoch"):
            integer(getattr(self, name), name, low=0)
        prefix = self.warmup_epochs if self.warmup_prefix else 0
        if self.cooldown_epochs + prefix and self.cooldown_epochs + prefix >= self.epochs:
            raise ValueError(
                f"cooldown_epochs{' + warmup_epochs (warmup_prefix)' if prefix else ''} must be below epochs "
                f"({self.epochs}): the schedule's decay runs between them, got {self.cooldown_epochs + prefix}"
            )
        mixing = self.mixup or self.cutmix or self.cutmix_minmax
        check_aug_splits(self.aug_splits, self.jsd_loss, self.aug, mixing, self.bce_loss)
        warn_long_warmup(self.warmup_epochs, self.epochs, self.sched)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values (checkpoints, ``summary.json``, resumes): ``aug`` as its SPEC text."""
        settings = asdict(self)
        if isinstance(self.aug, str):
            settings["aug"] = str(self.aug)
        return settings

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``; an unchanged ``aug`` keeps its resolved SPEC (not checked again)."""
        return type(self)(**{**self.to_dict(), "aug": self.aug, **changes})


def check_aug_splits(aug_splits: Any, jsd_loss: bool, aug: str | None, mixing: Any, bce_loss: bool) -> None:
    """timm's augmentation splits: 0 (off) or at least 2 views, which need an ``aug`` to differ; ``jsd_loss`` needs
    them, and class ids (no MixUp/CutMix: timm's ``JsdCrossEntropy`` takes no soft targets) under cross-entropy."""
    integer(aug_splits, "aug_splits", low=0)
    if aug_splits == 1:
        raise ValueError("aug_splits must be 0 (off) or at least 2 (views of each batch, the first clean), got 1")
    if aug_splits and not aug:
        raise ValueError(f"aug_splits {aug_splits} needs aug (the views after the first go through it), got none")
    if jsd_loss and not aug_splits:
        raise ValueError("jsd_loss needs aug_splits of 2 or more (the views it compares), got aug_splits 0")
    if jsd_loss and mixing:
        raise ValueError("jsd_loss takes class ids, not MixUp/CutMix targets: leave out mixup and cutmix")
    if jsd_loss and bce_loss:
        raise ValueError("jsd_loss is a cross-entropy (timm's JsdCrossEntropy): leave out bce_loss or jsd_loss")


def tracker_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``log`` (a comma list, a sequence of names or comma lists, or None) as a tuple of known tracker names,
    each once, in the order given; a tracker whose library is missing is a ``TrackerUnavailableError``."""
    if value is None:
        return ()
    parts = [value] if isinstance(value, str) else list(value)
    names: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"log must name trackers ({', '.join(TRACKERS)}), got {part!r}")
        for name in (n.strip() for n in part.split(",")):
            if name and name not in names:
                choice(name, "log", TRACKERS)
                names.append(name)
    check_available(names)
    return tuple(names)


def warn_long_warmup(warmup_epochs: int, epochs: int, sched: str | None) -> None:
    """A one-line ``UserWarning`` when warm-up covers half of ``epochs`` or more (with a schedule)."""
    import warnings

    if warmup_epochs and sched not in (None, "none") and 2 * warmup_epochs >= epochs:
        warnings.warn(
            f"warmup_epochs {warmup_epochs} covers {min(warmup_epochs, epochs)} of {epochs} epochs: the learning "
            "rate stays below lr for most of the run; lower --warmup-epochs (default 0)",
            UserWarning,
            stacklevel=5,  # the caller that built the TrainConfig
        )


#: The shared settings a strategy (or task) may refuse because it does not apply them, each with its
#: value when off: its flag's default, except ``smoothing`` (timm's command-line default is 0.1).
REFUSABLE_SETTINGS: dict[str, Any] = {
    "aug": None,
    "image_aug": None,
    "mixup": 0.0,
    "cutmix": 0.0,
    "reprob": 0.0,
    "aug_splits": 0,
    "jsd_loss": False,
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
    """``SettingRefusedError`` for the first of ``refusals`` (``{setting: reason}``) that ``settings`` turn on."""
    for name, reason in refusals.items():
        if setting_is_on(name, settings):
            raise SettingRefusedError(who, name, reason)

"""timm train.py's flags, defined once for every ``effl`` command that trains.

``add_training_args(parser)`` adds the optimizer, schedule, training, data, augmentation, strategy
and run-directory flags with timm's names, meanings and defaults (where timm has them; the
optimizer here defaults to AdamW, and ``--amp`` takes an optional mode). Values are checked at parse
time: finite numbers, positive sizes, probabilities in [0, 1], a known device string, SPEC syntax.
``training_settings(args)`` returns them under the engine's names (the argparse dests), with
``--strategy-arg`` pairs parsed; ``resolve_device`` turns ``--device`` into a torch device string.

Nothing here imports torch at module import: ``effl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "TRAINING_DESTS",
    "AMP_MODES",
    "add_training_args",
    "add_data_arg",
    "training_settings",
    "resolve_device",
]

AMP_MODES = ("auto", "bf16", "fp16", "off")
SCHEDULERS = ("cosine", "tanh", "step", "multistep", "plateau", "poly", "none")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
MIXUP_MODES = ("batch", "pair", "elem")
ERASE_MODES = ("const", "rand", "pixel")

#: The argparse dests (and the engine's setting names), in the order ``add_training_args`` adds them.
TRAINING_DESTS = (
    "opt",
    "opt_eps",
    "momentum",
    "weight_decay",
    "clip_grad",
    "sched",
    "epochs",
    "lr",
    "warmup_epochs",
    "warmup_lr",
    "min_lr",
    "batch_size",
    "grad_accum_steps",
    "amp",
    "model_ema",
    "model_ema_decay",
    "drop",
    "drop_path",
    "smoothing",
    "pretrained",
    "channels_last",
    "workers",
    "pin_mem",
    "device",
    "seed",
    "img_size",
    "mean",
    "std",
    "interpolation",
    "crop_pct",
    "scale",
    "ratio",
    "hflip",
    "aug",
    "image_aug",
    "mixup",
    "cutmix",
    "cutmix_minmax",
    "mixup_prob",
    "mixup_switch_prob",
    "mixup_mode",
    "reprob",
    "remode",
    "recount",
    "color_jitter",
    "strategy",
    "strategy_arg",
    "out",
    "resume",
    "resume_override",
    "overwrite",
)


# -- argparse types: each raises ArgumentTypeError, which argparse reports as "argument --flag: ..." --


def _number(kind: type, text: str) -> float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _ranged(
    kind: type, low: float | None = None, high: float | None = None, *, open_low: bool = False, open_high: bool = False
) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` within ``[low, high]`` (ends open when asked)."""
    left, right = "(" if open_low else "[", ")" if open_high else "]"
    allowed = f"in {left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"

    def parse(text: str):
        value = _number(kind, text)
        too_low = low is not None and (value <= low if open_low else value < low)
        too_high = high is not None and (value >= high if open_high else value > high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"expected a value {allowed}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in "invalid <name> value" messages
    return parse


positive_int = _ranged(int, 1)
non_negative_int = _ranged(int, 0)
#: A random seed: what ``torch.Generator.manual_seed``, ``torch.manual_seed`` and NumPy all accept.
seed_int = _ranged(int, 0, 2**63 - 1)
finite_float = _ranged(float)
positive_float = _ranged(float, 0.0, open_low=True)
non_negative_float = _ranged(float, 0.0)
probability = _ranged(float, 0.0, 1.0)
fraction = _ranged(float, 0.0, 1.0, open_high=True)  # dropout rates, label smoothing
unit_interval = _ranged(float, 0.0, 1.0, open_low=True)  # crop_pct, scale ends


def device_name(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    from .._validate import DEVICES, device

    try:
        return device(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {DEVICES}, got {text!r}") from None


def spec_string(text: str) -> str:
    """An argparse type: an augmentation SPEC whose syntax parses (names are checked when it is built)."""
    from effl_plugins.augment.spec import parse_spec

    try:
        parse_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def kv_pair(text: str) -> str:
    """An argparse type: one ``KEY=VALUE`` pair (kept as text; ``training_settings`` parses it)."""
    from effl_plugins.kv import parse_kv

    try:
        parse_kv([text], option="this option")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class _Pair(argparse.Action):
    """Two numbers ``LOW HIGH`` with ``low <= high`` (``strict``: ``low < high``), stored as a tuple."""

    def __init__(self, option_strings, dest, strict: bool = False, **kwargs):
        self.strict = strict
        super().__init__(option_strings, dest, nargs=2, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        low, high = values
        if low > high or (self.strict and low == high):
            relation = "<" if self.strict else "<="
            parser.error(f"argument {option_string}: expected LOW {relation} HIGH, got {low} {high}")
        setattr(namespace, self.dest, (low, high))


class _PerChannel(argparse.Action):
    """One value for all channels or one per channel (1 or 3 numbers), stored as a tuple."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) not in (1, 3):
            parser.error(f"argument {option_string}: expected 1 or 3 values, got {len(values)}")
        setattr(namespace, self.dest, tuple(values))


# -- the flags ------------------------------------------------------------------------------------


def add_training_args(parser: argparse.ArgumentParser, **defaults: Any) -> argparse.ArgumentParser:
    """Add timm train.py's flags (and ``-c/--config``) to ``parser``; ``defaults`` override ours by dest.

    Example: ``add_training_args(sub, epochs=10, batch_size=64)`` for a command whose runs are short.
    Raises ``ValueError`` for a default whose name is not one of ``TRAINING_DESTS``.
    """
    unknown = sorted(set(defaults) - set(TRAINING_DESTS))
    if unknown:
        raise ValueError(f"add_training_args got unknown default(s) {unknown}; allowed: {', '.join(TRAINING_DESTS)}")
    from effl_plugins.config_file import add_config_arg

    add_config_arg(parser)
    _optimizer_args(parser.add_argument_group("optimizer (timm train.py names)"))
    _schedule_args(parser.add_argument_group("learning-rate schedule"))
    _training_args(parser.add_argument_group("training"))
    _data_args(parser.add_argument_group("data (default: the model's pretrained_cfg)"))
    _augmentation_args(parser.add_argument_group("augmentation"))
    _strategy_args(parser.add_argument_group("strategy"))
    _run_args(parser.add_argument_group("run directory"))
    if defaults:
        parser.set_defaults(**defaults)
    return parser


def add_data_arg(parser: argparse.ArgumentParser) -> None:
    """The required ``--data``: the embedded digits, or an ImageFolder root with ``train/`` and ``val/``."""
    parser.add_argument("--data", required=True, help="'digits' (embedded) or a dataset root with train/ and val/")


def _optimizer_args(group) -> None:
    group.add_argument("--opt", default="adamw", metavar="OPTIMIZER", help="timm optimizer name (default: adamw)")
    group.add_argument(
        "--opt-eps",
        type=positive_float,
        default=None,
        metavar="EPSILON",
        help="optimizer epsilon (default: the optimizer's)",
    )
    group.add_argument("--momentum", type=probability, default=0.9, metavar="M", help="SGD momentum (default: 0.9)")
    group.add_argument("--weight-decay", type=non_negative_float, default=2e-5, help="weight decay (default: 2e-5)")
    group.add_argument(
        "--clip-grad",
        type=positive_float,
        default=None,
        metavar="NORM",
        help="clip the gradient norm to NORM (default: no clipping)",
    )


def _schedule_args(group) -> None:
    group.add_argument("--sched", choices=SCHEDULERS, default="cosine", help="LR scheduler (default: cosine)")
    group.add_argument("--epochs", type=positive_int, default=300, metavar="N", help="epochs to train (default: 300)")
    group.add_argument(
        "--lr", type=positive_float, default=None, metavar="LR", help="learning rate (default: the strategy's)"
    )
    group.add_argument(
        "--warmup-epochs",
        type=non_negative_int,
        default=5,
        metavar="N",
        help="epochs of linear warm-up from --warmup-lr (default: 5)",
    )
    group.add_argument(
        "--warmup-lr",
        type=non_negative_float,
        default=1e-5,
        metavar="LR",
        help="learning rate at the start of warm-up (default: 1e-5)",
    )
    group.add_argument(
        "--min-lr",
        type=non_negative_float,
        default=0.0,
        metavar="LR",
        help="lower bound of cyclic schedules (default: 0)",
    )


def _training_args(group) -> None:
    group.add_argument(
        "-b", "--batch-size", type=positive_int, default=128, metavar="N", help="batch size per process (default: 128)"
    )
    group.add_argument(
        "--grad-accum-steps", type=positive_int, default=1, metavar="N", help="batches per optimizer step (default: 1)"
    )
    group.add_argument(
        "--amp",
        nargs="?",
        const="auto",
        choices=AMP_MODES,
        default="off",
        help="mixed precision: auto (bf16 where supported, else fp16 on CUDA, off on CPU), bf16, fp16 "
        "or off; a bare --amp means auto (default: off)",
    )
    group.add_argument("--model-ema", action="store_true", help="keep an exponential moving average of the weights")
    group.add_argument(
        "--model-ema-decay", type=unit_interval, default=0.9998, metavar="DECAY", help="EMA decay (default: 0.9998)"
    )
    group.add_argument("--drop", type=fraction, default=0.0, metavar="PCT", help="dropout rate (default: 0)")
    group.add_argument(
        "--drop-path",
        type=fraction,
        default=None,
        metavar="PCT",
        help="drop-path (stochastic depth) rate (default: the model's)",
    )
    group.add_argument("--smoothing", type=fraction, default=0.1, help="label smoothing (default: 0.1)")
    group.add_argument("--pretrained", action="store_true", help="start from the model's pretrained weights")
    group.add_argument("--channels-last", action="store_true", help="channels-last memory layout")
    group.add_argument(
        "-j",
        "--workers",
        type=non_negative_int,
        default=4,
        metavar="N",
        help="DataLoader worker processes (default: 4)",
    )
    group.add_argument("--pin-mem", action="store_true", help="pin DataLoader memory (faster copies to CUDA)")
    group.add_argument(
        "--device",
        type=device_name,
        default="auto",
        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N or mps (default: auto)",
    )
    group.add_argument("--seed", type=seed_int, default=42, help="random seed (default: 42)")


def _data_args(group) -> None:
    group.add_argument("--img-size", type=positive_int, default=None, metavar="PX", help="input image size")
    group.add_argument(
        "--mean",
        type=finite_float,
        nargs="+",
        action=_PerChannel,
        default=None,
        metavar="MEAN",
        help="normalisation mean, 1 or 3 values",
    )
    group.add_argument(
        "--std",
        type=positive_float,
        nargs="+",
        action=_PerChannel,
        default=None,
        metavar="STD",
        help="normalisation std, 1 or 3 values",
    )
    group.add_argument("--interpolation", choices=INTERPOLATIONS, default=None, help="resize interpolation")
    group.add_argument("--crop-pct", type=unit_interval, default=None, metavar="PCT", help="eval centre-crop fraction")
    group.add_argument(
        "--scale",
        type=unit_interval,
        action=_Pair,
        default=(0.08, 1.0),
        metavar=("LOW", "HIGH"),
        help="random-resized-crop area fraction (default: 0.08 1.0)",
    )
    group.add_argument(
        "--ratio",
        type=positive_float,
        action=_Pair,
        default=(3 / 4, 4 / 3),
        metavar=("LOW", "HIGH"),
        help="random-resized-crop aspect ratio (default: 0.75 1.333)",
    )
    group.add_argument(
        "--hflip", type=probability, default=0.5, metavar="P", help="horizontal flip probability (default: 0.5)"
    )


def _augmentation_args(group) -> None:
    group.add_argument(
        "--aug",
        type=spec_string,
        default=None,
        metavar="SPEC",
        help="batch augmentation on the device: a timm string (rand-m9-n2-mstd0.5, original, v0r-mstd0.5, 3a, "
        "trivial) or "
        "registered names with arguments joined by '+' (\"brightness(max_delta=0.2)+flip\")",
    )
    group.add_argument(
        "--image-aug",
        type=spec_string,
        default=None,
        metavar="SPEC",
        help="per-image augmentation in the DataLoader workers (same SPEC syntax)",
    )
    group.add_argument(
        "--mixup",
        type=non_negative_float,
        default=0.0,
        metavar="ALPHA",
        help="mixup alpha, enabled when > 0 (default: 0)",
    )
    group.add_argument(
        "--cutmix",
        type=non_negative_float,
        default=0.0,
        metavar="ALPHA",
        help="cutmix alpha, enabled when > 0 (default: 0)",
    )
    group.add_argument(
        "--cutmix-minmax",
        type=unit_interval,
        action=_Pair,
        strict=True,
        default=None,
        metavar=("MIN", "MAX"),
        help="cutmix box ratio range; overrides --cutmix and enables it",
    )
    group.add_argument(
        "--mixup-prob",
        type=probability,
        default=1.0,
        metavar="P",
        help="probability of mixing a batch when mixup or cutmix is on (default: 1)",
    )
    group.add_argument(
        "--mixup-switch-prob",
        type=probability,
        default=0.5,
        metavar="P",
        help="probability of cutmix instead of mixup when both are on (default: 0.5)",
    )
    group.add_argument(
        "--mixup-mode",
        choices=MIXUP_MODES,
        default="batch",
        help="mixing parameters per batch, pair or element (default: batch)",
    )
    group.add_argument(
        "--reprob",
        type=probability,
        default=0.0,
        metavar="P",
        help="random erasing probability per image, on the normalised batch (default: 0, off)",
    )
    group.add_argument(
        "--remode",
        choices=ERASE_MODES,
        default="pixel",
        help="random erasing values: const (zeros), rand (a normal colour per box) or pixel (normal noise) "
        "after normalisation (default: pixel)",
    )
    group.add_argument(
        "--recount",
        type=positive_int,
        default=1,
        metavar="N",
        help="random erasing boxes per image, 1..N uniform (default: 1)",
    )
    group.add_argument(
        "--color-jitter",
        type=probability,
        nargs="+",
        default=None,
        metavar="F",
        help="colour jitter: brightness, contrast and saturation factors ~ U(1 - F, 1 + F), one F or three, "
        "added to --aug (timm's meaning; timm turns it off after an auto-augment other than 3a, effl refuses "
        "that pair; off unless given, where timm's default is 0.4)",
    )


def _strategy_args(group) -> None:
    group.add_argument("--strategy", default=None, metavar="NAME", help="registered strategy (effl list strategies)")
    group.add_argument(
        "--strategy-arg",
        type=kv_pair,
        action="append",
        default=[],
        metavar="K=V",
        help="strategy keyword argument, V a Python literal or a string (repeatable; the last wins)",
    )


def _run_args(group) -> None:
    group.add_argument("--out", default=None, metavar="DIR", help="run directory: checkpoints, metrics, summary")
    group.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    group.add_argument(
        "--resume-override",
        action="store_true",
        help="with --resume: accept settings that differ from the checkpoint's (the command line wins)",
    )
    group.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")


# -- after parsing --------------------------------------------------------------------------------


def training_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The training flags of ``args`` under the engine's names (``TRAINING_DESTS``).

    ``strategy_arg`` becomes a dict (``effl_plugins.kv.parse_kv``); ``mean``/``std``/``scale``/``ratio``/
    ``cutmix_minmax`` are tuples. Raises ``ValueError`` for combinations no single flag can check.
    """
    from effl_plugins.kv import parse_kv

    missing = [dest for dest in TRAINING_DESTS if not hasattr(args, dest)]
    if missing:
        raise ValueError(f"training_settings needs a parser built with add_training_args; missing {missing}")
    settings = {dest: getattr(args, dest) for dest in TRAINING_DESTS}
    settings["strategy_arg"] = parse_kv(settings["strategy_arg"] or [], option="--strategy-arg")
    for dest in ("mean", "std", "scale", "ratio", "cutmix_minmax"):
        if settings[dest] is not None:
            settings[dest] = tuple(float(v) for v in settings[dest])
    if settings["color_jitter"] is not None:
        from effl_plugins.augment.spec import color_jitter_spec

        settings["aug"] = color_jitter_spec(settings["color_jitter"], settings["aug"])
    if settings["resume_override"] and not settings["resume"]:
        raise ValueError("--resume-override only applies with --resume")
    if settings["lr"] is not None and settings["min_lr"] > settings["lr"]:
        raise ValueError(f"--min-lr must not exceed --lr, got --min-lr {settings['min_lr']} > --lr {settings['lr']}")
    return settings


def resolve_device(name: str) -> str:
    """``--device`` -> a torch device string (:func:`effl_plugins.train.resolve_device`; torch loads here,
    not when the parser is built)."""
    from ..train.engine import resolve_device as resolve

    return resolve(name)

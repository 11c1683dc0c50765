"""timm train.py's flags, defined once for every ``effl`` command that trains: ``add_training_args`` adds
them with timm's names, meanings and defaults (checked at parse time), ``training_settings`` returns them under
the engine's names, ``resolve_device`` turns ``--device`` into a torch device string.

Nothing here imports torch at module import: ``effl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._validate import AMP_MODES, CLIP_MODES, ERASE_MODES, INTERPOLATIONS, MIXUP_MODES

__all__ = [
    "TRAINING_DESTS",
    "AMP_MODES",
    "add_training_args",
    "add_data_arg",
    "training_settings",
    "resolve_device",
]

SCHEDULERS = ("cosine", "tanh", "step", "multistep", "plateau", "poly", "none")
#: ``--amp-dtype`` (timm's spelling) and the ``--amp`` mode each one means.
AMP_DTYPES = {"float16": "fp16", "bfloat16": "bf16"}
#: ``--resume auto``: continue the run in ``--out`` when it holds one, else start it (``rundir.resolve_resume``).
AUTO_RESUME = "auto"

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
#: a share strictly between 0 and 1 (``--val-fraction``)
open_fraction = _ranged(float, 0.0, 1.0, open_low=True, open_high=True)
rate = _ranged(float, 0.0, 1.0, open_high=True)  # in [0, 1): dropout rates, label smoothing
unit_interval = _ranged(float, 0.0, 1.0, open_low=True)  # crop_pct, scale ends


def device_name(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    from .._validate import DEVICES, device

    try:
        return device(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {DEVICES}, got {text!r}") from None


def spec_string(text: str) -> str:
    """An argparse type: an augmentation SPEC whose syntax parses, kept parsed (a ``Spec``: the same text with
    its terms, not parsed again; names are looked up where the run's settings are checked)."""
    from effl_plugins.augment.spec import Spec

    try:
        return Spec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    _add_flags(parser)
    _refuse_timm_flags(parser)
    if defaults:
        parser.set_defaults(**defaults)
    return parser


def _add_flags(parser: argparse.ArgumentParser) -> None:
    _optimizer_args(parser.add_argument_group("optimizer (timm train.py names)"))
    _schedule_args(parser.add_argument_group("learning-rate schedule"))
    _training_args(parser.add_argument_group("training"))
    _model_args(
        parser.add_argument_group(
            "model (timm train.py names)",
            "timm train.py flags effl does not take are refused with what to use instead (docs/timm_train_flags.md)",
        )
    )
    _data_args(parser.add_argument_group("data (default: the model's pretrained_cfg)"))
    _augmentation_args(parser.add_argument_group("augmentation"))
    _strategy_args(parser.add_argument_group("strategy"))
    _run_args(parser.add_argument_group("run directory"))
    _logging_args(parser.add_argument_group("progress and experiment tracking"))


def add_data_arg(parser: argparse.ArgumentParser) -> None:
    """The required ``--data`` (the embedded digits, an ImageFolder root with ``train/`` and ``val/``, or a
    folder of class subfolders with ``--val-fraction``), timm's ``--train-split``/``--val-split``, and
    ``--class-map``, refused in one line naming what decides class ids here."""
    parser.add_argument(
        "--data",
        required=True,
        metavar="digits|PATH",
        help="'digits' (embedded), a dataset root with train/ and val/, a folder of class subfolders "
        "(with --val-fraction), wds/DIR (WebDataset tar shards) or hfds/PATH (a local Hugging Face dataset)",
    )
    parser.add_argument(
        "--val-fraction",
        type=open_fraction,
        default=None,
        metavar="F",
        help="hold out this share of each class of a folder without a val split (class subfolders, or train/ "
        "only) for validation, shuffled by --seed; the run records it in DIR/split.json",
    )
    parser.add_argument(
        "--train-split",
        default=None,
        metavar="NAME",
        help="the train split's folder (or NAME.tar) under the root (default: train or training); with wds/ a "
        "shard pattern such as 'train-{0000..0007}.tar' (default: train*.tar), with hfds/ a split name",
    )
    parser.add_argument(
        "--val-split",
        default=None,
        metavar="NAME",
        help="the val split's folder (or NAME.tar) under the root (default: val, validation, valid, eval); with "
        "wds/ a shard pattern (default: val*.tar), with hfds/ a split name (default: validation, val, valid, test)",
    )
    parser.add_argument(
        "--class-map",
        type=_no_class_map,
        default=None,
        metavar="FILE",
        help="not supported: class ids are the class folders in natural order (each checkpoint records them)",
    )


def _no_class_map(text: str) -> str:
    """``--class-map``'s type: refused, naming what gives the class ids here."""
    raise argparse.ArgumentTypeError(
        f"not supported (got {text!r}): class ids are the train split's class folders in natural order, recorded "
        "as class_names in every checkpoint; to train on some classes, point --data at a folder holding only those"
    )


def data_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--val-fraction``, ``--train-split`` and ``--val-split`` (None where the parser has no such flag)."""
    return {dest: getattr(args, dest, None) for dest in ("val_fraction", "train_split", "val_split")}


def _optimizer_args(group) -> None:
    group.add_argument("--opt", default="adamw", metavar="OPTIMIZER", help="timm optimizer name (default: adamw)")
    group.add_argument(
        "--opt-eps",
        type=positive_float,
        default=None,
        metavar="EPSILON",
        help="optimizer epsilon (default: the optimizer's)",
    )
    group.add_argument(
        "--opt-betas",
        type=probability,
        nargs="+",
        default=None,
        metavar="BETA",
        help="optimizer betas, e.g. 0.9 0.999 (default: the optimizer's)",
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
    group.add_argument(
        "--opt-kwargs",
        type=kv_pair,
        nargs="*",
        action="extend",
        default=[],
        metavar="K=V",
        help="more timm create_optimizer_v2 keyword arguments, V a Python literal or a string",
    )
    group.add_argument(
        "--clip-mode",
        choices=CLIP_MODES,
        default="norm",
        help="how --clip-grad clips: the total norm, each value, or adaptively (AGC) (default: norm)",
    )
    group.add_argument(
        "--layer-decay",
        type=positive_float,
        default=None,
        metavar="RATE",
        help="layer-wise learning-rate decay (timm's create_optimizer_v2 layer_decay; default: none)",
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
        default=0,
        metavar="N",
        help="epochs of linear warm-up from --warmup-lr (default: 0, as the Python API; timm's train.py has 5); "
        "a warning when it covers half of --epochs or more",
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
    group.add_argument(
        "--warmup-prefix",
        action="store_true",
        help="the schedule's decay starts after warm-up (default: warm-up is part of it)",
    )
    group.add_argument(
        "--lr-k-decay",
        type=positive_float,
        default=1.0,
        metavar="K",
        help="cosine and poly schedules: k-decay (default: 1)",
    )
    group.add_argument(
        "--lr-noise",
        type=probability,
        nargs="+",
        default=None,
        metavar="PCT",
        help="learning-rate noise from this fraction of the run on, or between two (default: none)",
    )
    group.add_argument(
        "--lr-noise-pct",
        type=non_negative_float,
        default=0.67,
        metavar="PCT",
        help="learning-rate noise limit (default: 0.67)",
    )
    group.add_argument(
        "--lr-noise-std",
        type=non_negative_float,
        default=1.0,
        metavar="STD",
        help="learning-rate noise standard deviation (default: 1)",
    )
    group.add_argument(
        "--decay-epochs",
        type=positive_float,
        default=90.0,
        metavar="N",
        help="step schedule: epochs between decays (default: 90)",
    )
    group.add_argument(
        "--decay-milestones",
        type=positive_int,
        nargs="+",
        default=(90, 180, 270),
        metavar="EPOCH",
        help="multistep schedule: epochs at which to decay (default: 90 180 270)",
    )
    group.add_argument(
        "--decay-rate",
        "--dr",
        type=non_negative_float,
        default=0.1,
        metavar="RATE",
        help="step, multistep and plateau schedules: the decay factor (default: 0.1)",
    )
    group.add_argument(
        "--patience-epochs",
        type=non_negative_int,
        default=10,
        metavar="N",
        help="plateau schedule: epochs without improvement before a decay (default: 10)",
    )
    group.add_argument(
        "--cooldown-epochs",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="the last N of --epochs stay at --min-lr after the schedule ends (timm adds them after --epochs; "
        "default: 0)",
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
    group.add_argument(
        "--amp-dtype",
        choices=AMP_DTYPES,
        default=None,
        help="with --amp: float16 (--amp fp16) or bfloat16 (--amp bf16), timm's spelling",
    )
    group.add_argument("--model-ema", action="store_true", help="keep an exponential moving average of the weights")
    group.add_argument(
        "--model-ema-decay", type=unit_interval, default=0.9998, metavar="DECAY", help="EMA decay (default: 0.9998)"
    )
    group.add_argument("--drop", type=rate, default=0.0, metavar="PCT", help="dropout rate (default: 0)")
    group.add_argument(
        "--drop-path",
        "--drop-connect",
        type=rate,
        default=None,
        metavar="PCT",
        help="drop-path (stochastic depth) rate (default: the model's)",
    )
    group.add_argument("--smoothing", type=rate, default=0.1, help="label smoothing (default: 0.1)")
    group.add_argument(
        "--bce-loss",
        action="store_true",
        help="timm's BinaryCrossEntropy (a sigmoid per class, with --smoothing) instead of cross-entropy",
    )
    group.add_argument("--pretrained", action="store_true", help="start from the model's pretrained weights")
    group.add_argument("--channels-last", action="store_true", help="channels-last memory layout")
    group.add_argument(
        "-j",
        "--workers",
        type=non_negative_int,
        default=default_workers(),
        metavar="N",
        help="DataLoader worker processes (default: one fewer than the CPUs this process may use, at most 4; "
        "0 loads in the main process)",
    )
    group.add_argument("--pin-mem", action="store_true", help="pin DataLoader memory (faster copies to CUDA)")
    group.add_argument(
        "--device",
        type=device_name,
        default="auto",
        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N or mps (default: auto)",
    )
    group.add_argument("--seed", type=seed_int, default=42, help="random seed (default: 42)")


def machine_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """``--workers``' default: one fewer than the CPUs this process may use, at most 4 (0 on one CPU), so the
    DataLoader never starts more workers than torch suggests for the machine."""
    return max(0, min(4, machine_cores() - 1))


def path_component(text: str) -> str:
    """An argparse type: one folder name (no separator, not ``.`` or ``..``)."""
    if not text or text in (".", "..") or "/" in text or (os.sep in text) or "\x00" in text:
        raise argparse.ArgumentTypeError(f"expected one folder name (no '/', not '.' or '..'), got {text!r}")
    return text


class _InputSize(argparse.Action):
    """timm's ``--input-size C H W``: three positive integers, C = 3 and H = W (effl's images are square RGB)."""

    def __call__(self, parser, namespace, values, option_string=None):
        channels, height, width = values
        if channels != 3 or height != width:
            parser.error(
                f"argument {option_string}: expected 3 N N (RGB, square), got {channels} {height} {width}; "
                "use --img-size N"
            )
        setattr(namespace, self.dest, (channels, height, width))


def _three_channels(text: str) -> int:
    """An argparse type: timm's ``--in-chans``, where effl reads RGB images: 3 only."""
    value = _number(int, text)
    if value != 3:
        raise argparse.ArgumentTypeError(f"effl reads RGB images: expected 3, got {text!r}")
    return value


def _model_args(group) -> None:
    """timm train.py's model flags: the head, the input size, ``timm.create_model`` keyword arguments,
    initial weights and ``torch.compile``."""
    group.add_argument(
        "--num-classes",
        type=positive_int,
        default=None,
        metavar="N",
        help="classes of the model's head; must equal the data's (default: the data's)",
    )
    group.add_argument(
        "--model-kwargs",
        type=kv_pair,
        nargs="*",
        action="extend",
        default=[],
        metavar="K=V",
        help="more timm.create_model keyword arguments for --model, V a Python literal or a string "
        "(img_size=N: as --img-size)",
    )
    group.add_argument(
        "--input-size",
        type=positive_int,
        nargs=3,
        action=_InputSize,
        default=None,
        metavar=("C", "H", "W"),
        help="timm's input size: 3 N N is --img-size N",
    )
    group.add_argument("--in-chans", type=_three_channels, default=None, metavar="3", help="input channels: 3 (RGB)")
    group.add_argument("--gp", default=None, metavar="POOL", help="global pool type (--model-kwargs global_pool=POOL)")
    group.add_argument(
        "--drop-block", type=rate, default=None, metavar="PCT", help="drop-block rate (models that take one)"
    )
    group.add_argument(
        "--bn-momentum", type=probability, default=None, metavar="M", help="BatchNorm momentum (models that take one)"
    )
    group.add_argument(
        "--bn-eps", type=positive_float, default=None, metavar="EPS", help="BatchNorm epsilon (models that take one)"
    )
    group.add_argument(
        "--initial-checkpoint",
        default=None,
        metavar="PATH",
        help="load these weights into --model after building it (as --model NAME:PATH)",
    )
    group.add_argument(
        "--torchcompile",
        nargs="?",
        const="inductor",
        default=None,
        metavar="BACKEND",
        help="torch.compile the model with BACKEND (a bare --torchcompile: inductor)",
    )
    group.add_argument("--torchcompile-mode", default=None, metavar="MODE", help="torch.compile mode")
    group.add_argument(
        "--grad-checkpointing",
        action="store_true",
        help="gradient checkpointing through the model's blocks (timm's set_grad_checkpointing)",
    )
    group.add_argument(
        "-vb",
        "--validation-batch-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="evaluation batch size (default: max(--batch-size, 64))",
    )


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
    group.add_argument(
        "--vflip",
        type=probability,
        default=0.0,
        metavar="P",
        help="vertical flip probability, first of --image-aug in the workers (default: 0)",
    )


def _augmentation_args(group) -> None:
    group.add_argument(
        "--aug",
        "--aa",
        type=spec_string,
        default=None,
        metavar="SPEC",
        help="batch augmentation on the device: a timm string (rand-m9-n2-mstd0.5, original, v0r-mstd0.5, 3a, "
        "augmix-m5-w3-d2, trivial) or "
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
        "--mixup-off-epoch",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="no mixup or cutmix from epoch N on (default: 0, never off)",
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
        "--aug-splits",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="train on N views of each batch, the first clean and the others through --aug (timm's AugMix "
        "splits; 0 or at least 2, default: 0, off)",
    )
    group.add_argument(
        "--jsd-loss",
        action="store_true",
        help="timm's JsdCrossEntropy over the --aug-splits views: cross-entropy on the clean view plus their "
        "Jensen-Shannon divergence (Hendrycks et al. 2020, AugMix)",
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
    group.add_argument(
        "--out", "--output", default=None, metavar="DIR", help="run directory: checkpoints, metrics, summary"
    )
    group.add_argument(
        "--experiment",
        type=path_component,
        default=None,
        metavar="NAME",
        help="run in the subfolder NAME of --out (default --out: output/train, as timm's train.py)",
    )
    group.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue the run in --out from its checkpoint; --resume DIR/checkpoint.pt (or DIR) names the "
        "run directory instead of --out; --resume auto: continue when --out holds this run's checkpoint, "
        "start fresh when it holds none (elastic restarts: torchrun --max-restarts)",
    )
    group.add_argument(
        "--checkpoint-interval",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="also save checkpoint.pt every N optimizer steps inside an epoch (default: 0, at epoch ends only)",
    )
    group.add_argument(
        "--resume-override",
        action="store_true",
        help="with --resume: accept settings that differ from the checkpoint's (the command line wins)",
    )
    group.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")


def tracker_list(text: str) -> list[str]:
    """An argparse type: tracker names, comma-separated, each known and its library installed."""
    from effl_plugins.train.config import tracker_names

    try:
        return list(tracker_names(text))
    except (ValueError, ImportError) as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--log {text}: ")) from None


def _logging_args(group) -> None:
    """``--log-interval`` (timm's) and ``--log`` (experiment trackers)."""
    group.add_argument(
        "--log-interval",
        type=non_negative_int,
        default=50,
        metavar="N",
        help="progress line every N steps when stderr is not a terminal (a bar when it is); 0: one line "
        "per epoch only (default: 50)",
    )
    group.add_argument(
        "--log",
        type=tracker_list,
        action="extend",
        default=[],
        metavar="TRACKER",
        help="experiment tracker(s), repeatable or comma-separated: tensorboard (OUT/tensorboard), wandb "
        "(OUT/wandb, offline unless WANDB_MODE is set), mlflow (OUT/mlruns), csv (summary.csv, always "
        "written); each needs its extra: pip install 'effl-plugins[tensorboard]'. Under torchrun write "
        "'torchrun ... -m -- effl_plugins.cli ...' (torchrun's parser reads --log as its --log-dir)",
    )


# -- timm train.py flags effl does not take: each refused in one line naming what to use ------------------

_DATA = "use --data DIR (an ImageFolder root) or --data digits"
_STUDENT = "this command names its models: use --student NAME (and --teacher NAME[:CKPT])"
_SCHED = "effl runs timm's schedulers with --sched, --warmup-epochs, --min-lr and the --decay-* flags"
_DISTILL = "distillation is its own command: effl distill --teacher NAME[:CKPT] --student NAME --loss kd"
_SIZES = "effl trains at one size: use --img-size N"

#: ``{flag: (nargs, reason)}``: timm train.py flags that are refused, each reason naming effl's equivalent.
TIMM_REFUSED: dict[str, tuple[int | str, str]] = {
    "--data-dir": ("*", _DATA),
    "--dataset": ("*", _DATA),
    "--train-num-samples": ("*", f"effl counts the images it reads: {_DATA}"),
    "--val-num-samples": ("*", f"effl counts the images it reads: {_DATA}"),
    "--dataset-download": (0, f"effl downloads no dataset: {_DATA}"),
    "--input-img-mode": ("*", f"effl reads RGB images: {_DATA}"),
    "--input-key": ("*", _DATA),
    "--target-key": ("*", _DATA),
    "--dataset-trust-remote-code": (0, f"effl runs no dataset code: {_DATA}"),
    "--pretrained-path": ("*", "use --model NAME:PATH (or --initial-checkpoint PATH) for local weights"),
    "--no-resume-opt": (0, "--resume restores everything; to start from weights alone use --initial-checkpoint PATH"),
    "--fuser": ("*", "TorchScript fusers are not used: use --torchcompile"),
    "--fast-norm": (0, "not supported: use --torchcompile"),
    "--head-init-scale": ("*", "use --model-kwargs head_init_scale=X for a model that takes it (ConvNeXt)"),
    "--head-init-bias": ("*", "not supported: the head is timm's reset_classifier; see --model-kwargs"),
    "--torchscript": (0, "TorchScript is not used: use --torchcompile"),
    "--model-dtype": ("*", "weights stay float32: use --amp bf16|fp16 for lower precision"),
    "--no-ddp-bb": (0, "under torchrun effl broadcasts rank 0's BatchNorm statistics each epoch; see --device"),
    "--synchronize-step": (0, "not needed: each step reads its loss once; see --device"),
    "--local_rank": ("*", "launch with torchrun, which sets LOCAL_RANK; see --device"),
    "--device-modules": ("*", "use --device cpu|cuda|cuda:N|mps"),
    "--layer-decay-min-scale": ("*", "use --layer-decay RATE (timm's default scales)"),
    "--layer-decay-no-opt-scale": ("*", "use --layer-decay RATE (timm's default scales)"),
    "--sched-on-updates": (0, f"the schedule steps per epoch: {_SCHED}"),
    "--lr-base": ("*", "effl does not scale the learning rate by batch size: use --lr"),
    "--lr-base-size": ("*", "effl does not scale the learning rate by batch size: use --lr"),
    "--lr-base-scale": ("*", "effl does not scale the learning rate by batch size: use --lr"),
    "--lr-cycle-mul": ("*", f"one cycle per run: {_SCHED}"),
    "--lr-cycle-decay": ("*", f"one cycle per run: {_SCHED}"),
    "--lr-cycle-limit": ("*", f"one cycle per run: {_SCHED}"),
    "--epoch-repeats": ("*", "an epoch is one pass over the data: use --epochs"),
    "--start-epoch": ("*", "a run continues from its checkpoint's epoch: use --resume"),
    "--no-aug": (
        0,
        "training augmentation is what you pass: leave out --aug and --image-aug, and set --scale 1 1 --hflip 0",
    ),
    "--train-crop-mode": ("*", "training crops are random-resized: use --scale and --ratio"),
    "--color-jitter-prob": ("*", "use --color-jitter, or --aug with brightness, contrast and color ops"),
    "--grayscale-prob": ("*", "use --aug with a registered op (effl list augmentations)"),
    "--gaussian-blur-prob": ("*", "use --aug with a registered op (effl list augmentations)"),
    "--aug-repeats": ("*", "no repeated augmentation: use --epochs"),
    "--resplit": (0, "random erasing erases every --aug-splits view, the clean one too: use --reprob"),
    "--bce-sum": (0, "use --bce-loss (timm's mean over classes)"),
    "--bce-target-thresh": ("*", "use --bce-loss (soft targets kept as they are)"),
    "--bce-pos-weight": ("*", "use --bce-loss (no positive weight)"),
    "--train-interpolation": ("*", "training and evaluation resize alike: use --interpolation"),
    "--sync-bn": (0, "under torchrun effl keeps per-rank BatchNorm and broadcasts rank 0's statistics; see --device"),
    "--dist-bn": ("*", "under torchrun effl broadcasts rank 0's BatchNorm statistics each epoch; see --device"),
    "--split-bn": (0, "no augmentation splits: use --aug"),
    "--model-ema-force-cpu": (0, "the EMA lives with the model: use --model-ema"),
    "--model-ema-warmup": (0, "a constant decay: use --model-ema-decay"),
    "--worker-seeding": ("*", "per-image randomness is a function of --seed, epoch and image: use --seed"),
    "--val-interval": ("*", "effl evaluates after every epoch; see --epochs"),
    "--recovery-interval": ("*", "checkpoint.pt is written every epoch and on SIGTERM: use --checkpoint-interval N"),
    "--checkpoint-hist": ("*", "effl keeps checkpoint.pt (last epoch) and model_best.pt (best epoch) in --out"),
    "--save-images": (0, "see augmented images with effl augment preview"),
    "--no-prefetcher": (0, "batches move to the device as they come: see --workers and --pin-mem"),
    "--eval-metric": ("*", "model_best.pt is the best top-1 epoch"),
    "--tta": ("*", "no test-time augmentation: evaluate with effl eval"),
    "--use-multi-epochs-loader": (0, "use --workers"),
    "--log-wandb": (0, "use --log wandb"),
    "--wandb-project": ("*", "use --log wandb (with the WANDB_PROJECT environment variable)"),
    "--wandb-tags": ("*", "use --log wandb (with the WANDB_TAGS environment variable)"),
    "--wandb-resume-id": ("*", "use --log wandb (with the WANDB_RUN_ID environment variable) and --resume"),
    "--train-img-sizes": ("*", _SIZES),
    "--train-batch-sizes": ("*", _SIZES),
    "--train-size-probs": ("*", _SIZES),
    "--train-size-schedule": ("*", _SIZES),
    "--train-size-schedule-spread": ("*", _SIZES),
    "--train-size-random-mix": ("*", _SIZES),
    "--train-batches-per-epoch": ("*", "an epoch is one pass over the data: use --epochs"),
    "--train-steps-per-epoch": ("*", "an epoch is one pass over the data: use --epochs"),
    "--variable-batch-loss-scale": ("*", _SIZES),
    "--naflex-loader": (0, _SIZES),
    "--naflex-train-seq-lens": ("*", _SIZES),
    "--naflex-max-seq-len": ("*", _SIZES),
    "--naflex-patch-sizes": ("*", _SIZES),
    "--naflex-patch-size-probs": ("*", _SIZES),
    "--naflex-loss-scale": ("*", _SIZES),
    "--naflex-patchify-channels-first": (0, _SIZES),
    "--kd-model-name": ("*", _DISTILL),
    "--kd-distill-type": ("*", _DISTILL),
    "--kd-loss-type": ("*", _DISTILL),
    "--distill-loss-weight": ("*", f"{_DISTILL} --loss-arg alpha=A"),
    "--task-loss-weight": ("*", f"{_DISTILL} --loss-arg alpha=A"),
    "--kd-temperature": ("*", f"{_DISTILL} --loss-arg temperature=T"),
    "--kd-student-feature-dim": ("*", _DISTILL),
    "--kd-teacher-feature-dim": ("*", _DISTILL),
    "--kd-token-distill-type": ("*", _DISTILL),
}


class _Refused(argparse.Action):
    """A timm train.py flag effl does not take: ``parser.error`` names it and what to use (exit 2, one line)."""

    def __init__(self, option_strings, dest, reason: str = "", **kwargs):
        self.reason = reason
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string is None:  # timm's positional DIR, or any stray word
            if values is not None:
                parser.error(f"unrecognized argument {values!r}: effl takes no positional arguments; {self.reason}")
            return
        parser.error(f"argument {option_string}: timm's train.py flag, not taken by effl; {self.reason}")


def _refuse_timm_flags(parser: argparse.ArgumentParser) -> None:
    """Add every :data:`TIMM_REFUSED` flag the parser does not already have (hidden from ``--help``), timm's
    ``--model`` where the command names its models otherwise (``effl distill``), and timm's positional
    ``DIR``, each refusing in one line with effl's equivalent."""
    for flag, (nargs, reason) in {**TIMM_REFUSED, "--model": ("*", _STUDENT)}.items():
        if flag in parser._option_string_actions:
            continue
        parser.add_argument(
            flag,
            nargs=nargs,
            const=True if nargs == 0 else None,  # what a -c/--config file's "flag: true" sets
            action=_Refused,
            reason=reason,
            dest=_refused_dest(flag),
            default=argparse.SUPPRESS,  # no attribute unless given (or set by a -c/--config file)
            help=argparse.SUPPRESS,
        )
    parser.add_argument(
        "timm_refused_data",
        nargs="?",
        action=_Refused,
        reason=f"timm's dataset DIR is {_DATA.removeprefix('use ')}",
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
    )


def _refused_dest(flag: str) -> str:
    """The namespace attribute a refused flag would set: ``--log-wandb`` -> ``timm_refused_log_wandb``."""
    return "timm_refused_" + flag.lstrip("-").replace("-", "_")


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
    _refused_in_config(args)
    _timm_spellings(settings)
    if settings["color_jitter"] is not None:
        from effl_plugins.augment.spec import color_jitter_spec

        settings["aug"] = color_jitter_spec(settings["color_jitter"], settings["aug"])
    if settings["resume_override"] and not settings["resume"]:
        raise ValueError("--resume-override only applies with --resume")
    if settings["lr"] is not None and settings["min_lr"] > settings["lr"]:
        raise ValueError(f"--min-lr must not exceed --lr, got --min-lr {settings['min_lr']} > --lr {settings['lr']}")
    return settings


def _refused_in_config(args: argparse.Namespace) -> None:
    """A refused switch a ``-c/--config`` file turned on (the file sets it without calling its action)."""
    for flag, (_, reason) in TIMM_REFUSED.items():
        if hasattr(args, _refused_dest(flag)):
            raise ValueError(f"{flag}: timm's train.py flag, not taken by effl; {reason}")


def _timm_spellings(settings: dict[str, Any]) -> None:
    """Fold timm's spellings into effl's settings, in place: ``--model-kwargs`` pairs into a dict (with
    ``--gp``, ``--drop-block``, ``--bn-momentum``, ``--bn-eps`` as timm passes them to ``create_model``),
    ``--input-size 3 N N`` and ``--model-kwargs img_size=N`` into ``img_size``, ``--amp-dtype`` into
    ``amp``, ``--resume DIR/checkpoint.pt`` into ``out``, ``--experiment NAME`` into ``out/NAME``.
    Two spellings of one setting that disagree are a ``ValueError`` naming both."""
    from effl_plugins.kv import parse_kv

    settings["opt_kwargs"] = parse_kv(settings["opt_kwargs"] or [], option="--opt-kwargs")
    kwargs = parse_kv(settings["model_kwargs"] or [], option="--model-kwargs")
    for dest, key in (
        ("gp", "global_pool"),
        ("drop_block", "drop_block_rate"),
        ("bn_momentum", "bn_momentum"),
        ("bn_eps", "bn_eps"),
    ):
        value = settings[dest]
        if value is not None:
            if key in kwargs and kwargs[key] != value:
                flag = "--" + dest.replace("_", "-")
                raise ValueError(f"{flag} {value} and --model-kwargs {key}={kwargs[key]!r} differ; pass one")
            kwargs[key] = value
    sizes = [("--img-size", settings["img_size"])]
    if settings["input_size"] is not None:
        sizes.append(("--input-size", settings["input_size"][1]))
    if "img_size" in kwargs:
        sizes.append(("--model-kwargs img_size", _square_size(kwargs.pop("img_size"))))
    given = [(flag, size) for flag, size in sizes if size is not None]
    if len({size for _, size in given}) > 1:
        raise ValueError(f"{' and '.join(f'{flag} {size}' for flag, size in given)} differ; pass one size")
    settings["img_size"] = given[0][1] if given else None
    settings["model_kwargs"] = kwargs
    for dest in ("opt_betas", "decay_milestones", "lr_noise"):
        if settings[dest] is not None:
            settings[dest] = tuple(settings[dest])
    _amp_dtype(settings)
    if settings["vflip"]:  # timm flips right after the random-resized crop, before its other image ops
        from effl_plugins.augment.spec import join_specs, term_spec

        vflip = {"direction": "vertical", "p": settings["vflip"]}
        flip = term_spec("flip", vflip, f'flip(direction="vertical", p={settings["vflip"]})')
        settings["image_aug"] = join_specs(flip, settings["image_aug"])
    if settings["lr_noise"] is None and (settings["lr_noise_pct"], settings["lr_noise_std"]) != (0.67, 1.0):
        raise ValueError("--lr-noise-pct and --lr-noise-std apply with --lr-noise PCT [PCT]; pass it too")
    if settings["torchcompile_mode"] is not None and settings["torchcompile"] is None:
        raise ValueError(f"--torchcompile-mode {settings['torchcompile_mode']} applies with --torchcompile; pass both")
    if settings["experiment"] is not None:
        settings["out"] = os.path.join(settings["out"] or os.path.join("output", "train"), settings["experiment"])
    _resume_path(settings)


def _square_size(value: Any) -> int:
    """``--model-kwargs img_size=N`` (or ``(N, N)``) as N; else a ``ValueError`` (effl's inputs are square)."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"--model-kwargs img_size: expected a positive integer N (square input), got {value!r}")
    return value


def _amp_dtype(settings: dict[str, Any]) -> None:
    """``--amp --amp-dtype bfloat16`` -> ``amp="bf16"``; ``--amp-dtype`` without ``--amp``, or against another
    ``--amp`` mode, is a ``ValueError`` (timm would ignore it)."""
    dtype = settings["amp_dtype"]
    if dtype is None:
        return
    mode = AMP_DTYPES[dtype]
    if settings["amp"] == "off":
        raise ValueError(f"--amp-dtype {dtype} applies with --amp; pass --amp --amp-dtype {dtype} (or --amp {mode})")
    if settings["amp"] not in ("auto", mode):
        raise ValueError(f"--amp-dtype {dtype} contradicts --amp {settings['amp']}; pass one")
    settings["amp"] = mode


def _resume_path(settings: dict[str, Any]) -> None:
    """timm's ``--resume PATH``: ``DIR/checkpoint.pt`` or ``DIR`` names the run directory (``out``);
    ``--resume auto`` stays ``"auto"`` (``./auto`` names a folder of that name)."""
    resume = settings["resume"]
    if not isinstance(resume, str):
        settings["resume"] = bool(resume)
        return
    if resume == AUTO_RESUME:  # decided from --out's contents before the run (effl_plugins.train.rundir)
        if settings["out"] is None:
            raise ValueError("--resume auto needs --out DIR: the run directory to continue or start")
        return
    path = Path(resume)
    if path.is_file() and path.name != "checkpoint.pt":
        raise ValueError(
            f"--resume {resume}: effl resumes a run directory's checkpoint.pt; pass --resume DIR/checkpoint.pt "
            "or --out DIR --resume"
        )
    run_dir = path.parent if path.name == "checkpoint.pt" else path
    out = settings["out"]
    if out is not None and Path(out).resolve() != run_dir.resolve():
        raise ValueError(f"--resume {resume} is in run directory {str(run_dir)!r}, not --out {out!r}; pass one")
    settings["out"], settings["resume"] = str(run_dir), True


def _training_dests() -> tuple[str, ...]:
    parser = argparse.ArgumentParser(add_help=False)
    _add_flags(parser)
    return tuple(action.dest for action in parser._actions)


#: The argparse dests (and the engine's setting names), in the order ``add_training_args`` adds them.
TRAINING_DESTS = _training_dests()


def resolve_device(name: str) -> str:
    """``--device`` -> a torch device string (:func:`effl_plugins.train.resolve_device`; torch loads here,
    not when the parser is built)."""
    from ..train.engine import resolve_device as resolve

    return resolve(name)

"""What every training command does once its flags are parsed: refuse a bad ``--out`` before anything
runs, hold the run directory's lock, resolve the model's data config, stream the data through it,
build the strategy from the registry and run it; the summary is printed as JSON.

Order matters for the user: every refusal (a file as ``--out``, a finished run without
``--overwrite``, ``--resume`` with nothing to resume, an unknown model or strategy argument, a device
this machine lacks) happens before a single image is decoded or a weight trained.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ._train_args import AUTO_RESUME, data_options, resolve_device, training_settings

__all__ = ["run_strategy", "run_record", "resolve_model_data_config", "model_data_config"]


def resolve_model_data_config(spec: str, settings: dict[str, Any], checkpoint=None):
    """The data config of model ``NAME[:CKPT]``: its timm ``pretrained_cfg``, a checkpoint's saved config,
    then the ``--img-size --mean --std --interpolation --crop-pct`` overrides. ``checkpoint``: the file
    ``spec`` names when the caller has read it (else it is read here)."""
    from ..checkpoint import Checkpoint
    from ..models import parse_model_spec

    name, path = parse_model_spec(spec)
    if checkpoint is None and path is not None:
        checkpoint = Checkpoint.read(path, spec)
    return model_data_config(name, checkpoint.data_config if checkpoint else None, settings)


def model_data_config(name: str, saved: dict[str, Any] | None, settings: dict[str, Any]):
    """:func:`resolve_model_data_config` for a checkpoint already read: ``saved`` is its ``data_config``."""
    import timm
    import torch

    from ..data import resolve_data_config
    from ..models import check_model_name

    check_model_name(name)
    try:
        with torch.device("meta"):  # build the model without allocating its weights (only its config is read)
            model = timm.create_model(name, pretrained=False)
    except Exception:  # noqa: BLE001 - a model that cannot initialise on the meta device
        model = timm.create_model(name, pretrained=False)
    return resolve_data_config(
        model=model,
        saved=saved,
        img_size=settings.get("img_size"),
        mean=settings.get("mean"),
        std=settings.get("std"),
        interpolation=settings.get("interpolation"),
        crop_pct=settings.get("crop_pct"),
    )


def run_record(settings: dict[str, Any], command: str) -> dict[str, Any]:
    """Every resolved setting plus the versions and the plugin distributions loaded (for ``args.yaml``)."""
    import timm
    import torch

    import effl_plugins as ep

    plugins = sorted({f"{i.distribution} {i.version or ''}".strip() for i in ep.plugin_info() if i.distribution})
    return {
        "command": command,
        **{k: v for k, v in settings.items() if k != "config"},
        "versions": {"effl-plugins": ep.__version__, "torch": torch.__version__, "timm": timm.__version__},
        "plugins": plugins,
    }


def run_strategy(
    args: argparse.Namespace,
    *,
    command: str,
    strategy: str,
    model: str,
    strategy_kwargs: dict[str, Any],
    data: str,
    unlabeled: str | None = None,
    num_labeled: int = 100,
    action: Callable[[Any, Any, Any, bool], dict[str, Any]] | None = None,
) -> int:
    """Build and run ``strategy`` for ``command``; see the module docstring for the order of checks.
    ``action(strategy, data, out, resume)`` replaces ``strategy.run`` (``effl teacher-cache`` records)."""
    from ..data.bundle import stream_record
    from ..lock import exclusive_lock
    from ..train.distributed import rank_and_world
    from ..train.rundir import check_run_directory, resolve_resume

    settings = training_settings(args)
    settings["device"] = resolve_device(settings["device"])
    built = _build_strategy(strategy, model, settings, strategy_kwargs)  # refuses what it does not apply
    main = rank_and_world()[0] == 0
    out = settings["out"]
    auto = settings["resume"] == AUTO_RESUME
    # every rank decides from the same files: none is written before all ranks have started
    settings["resume"] = resolve_resume(out, settings["resume"])
    if main:
        out = check_run_directory(out, resume=settings["resume"], overwrite=settings["overwrite"])
    created = main and out is not None and not out.exists()  # other ranks hold the path as given, unchecked
    lock = exclusive_lock(out, what="run directory") if out is not None and main else contextlib.nullcontext()
    try:
        with lock:
            read = getattr(built, "checkpoint", None)  # a Strategy reads its model's file once
            config = resolve_model_data_config(model, settings, read(model) if callable(read) else None)
            options = data_options(args)
            bundle = _build_data(data, config, settings, unlabeled, num_labeled, options)
            built.run_args = {
                **run_record(settings, command),
                "data": data,
                "unlabeled": unlabeled,
                **options,
            }
            stream = stream_record(bundle)
            if stream is not None:  # sharded or Hugging Face splits: a resume must read the same samples
                built.run_args["stream"] = stream
            if bundle.split is not None:
                built.run_args["split"] = {**bundle.split.summary(), "data": os.path.realpath(data)}
                if main and out is not None:
                    record_split(out, bundle.split, resume=settings["resume"], override=settings["resume_override"])
            built.resume_override = bool(settings["resume_override"])
            with _auto_resume_refusal(auto and settings["resume"], settings["out"]):
                if action is not None:
                    summary = action(built, bundle, settings["out"], settings["resume"])
                else:
                    summary = built.run(bundle, out_dir=settings["out"], resume=settings["resume"])
    except BaseException:
        if created:
            _remove_if_only_lock(out)
        raise
    if main:
        print(json.dumps({k: v for k, v in summary.items() if k not in ("config", "history")}, indent=2))
    return 0


@contextlib.contextmanager
def _auto_resume_refusal(active: bool, out: str | None):
    """With ``--resume auto`` continuing ``out``: a checkpoint that is not this run's (other settings, another
    model) is refused naming ``--resume auto`` and the directory."""
    from ..errors import CheckpointError

    try:
        yield
    except CheckpointError as exc:
        if not active:
            raise
        raise CheckpointError(f"--resume auto: --out {out!r} holds another run's checkpoint: {exc}") from None


def _remove_if_only_lock(out) -> None:
    """A run refused before it wrote anything leaves no directory behind (it made it only for its lock,
    which the lock removes on release; an older lock file left there is removed with it)."""
    try:
        names = [p.name for p in out.iterdir()]
        if names == ["lock"] and (out / "lock").stat().st_size == 0:
            (out / "lock").unlink()
            names = []
        if not names:
            out.rmdir()
    except OSError:
        pass


def record_split(out, split, *, resume: bool, override: bool) -> None:
    """``out/split.json``: the held-out split the run trains and evaluates on (written atomically and listed
    in the run's record). A resumed run whose split is not the recorded one is refused unless ``override``."""
    from ..data import SPLIT_RECORD
    from ..train.checkpoints import atomic_write_text

    path = out / SPLIT_RECORD
    if resume and path.is_file():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, ValueError):
            recorded = {}
        if not override:
            split.check_against(recorded if isinstance(recorded, dict) else {}, f"recorded in {str(path)!r}")
    atomic_write_text(path, json.dumps(split.record(), indent=1) + "\n")


def _build_strategy(name: str, model: str, settings: dict[str, Any], extra: dict[str, Any]):
    """The strategy, built before any file, model or image: it refuses the settings it does not apply
    (``SettingRefusedError``). A refused setting the command line did not set (``--smoothing``'s default
    0.1, which timm's train.py has) is turned off instead, and ``settings`` records the value that runs."""
    from .._api import create_strategy
    from ..kv import check_kwargs
    from ..plugins import get_manager
    from ..strategies.one_stage import MODEL_OPTIONS
    from ..train import TrainConfig
    from ..train.config import REFUSABLE_SETTINGS, SettingRefusedError, refuse_settings
    from ..train.specs import resolved_augmentation

    factory = get_manager().registry("strategies").get(name).factory
    refusals = factory.refusals() if callable(getattr(factory, "refusals", None)) else {}
    if "image_aug" in refusals:  # a data setting: the strategy never sees it
        refuse_settings(name, settings, {"image_aug": refusals["image_aug"]})
    if settings.get("image_aug"):  # checked once, before any file: the loader builds it from this
        settings["image_aug"] = resolved_augmentation(settings["image_aug"], "image")
    engine = {k: v for k, v in settings.items() if k in TrainConfig.__dataclass_fields__ and v is not None}
    engine["progress"] = True
    options = {k: settings[k] for k in MODEL_OPTIONS if settings.get(k) is not None}
    kwargs = {"model": model, **engine, **options, **extra, **settings.get("strategy_arg", {})}
    check_kwargs(
        factory, {k: v for k, v in kwargs.items() if k not in engine and k not in options}, family="strategy", name=name
    )
    for _ in REFUSABLE_SETTINGS:
        try:
            return create_strategy(name, **kwargs)
        except SettingRefusedError as refused:
            key = refused.setting
            if key not in kwargs or key in settings.get("strategy_arg", {}) or kwargs[key] != _flag_default(key):
                raise
            kwargs[key] = settings[key] = REFUSABLE_SETTINGS[key]
    return create_strategy(name, **kwargs)


def _flag_default(dest: str) -> Any:
    """The default of training flag ``dest`` (what a command line that does not name it holds)."""
    from ._train_args import add_training_args

    return add_training_args(argparse.ArgumentParser(add_help=False)).get_default(dest)


def _build_data(
    spec: str, config, settings: dict[str, Any], unlabeled: str | None, num_labeled: int, options: dict[str, Any]
):
    from ..data import build_data
    from ..train.specs import image_augmentation

    bundle = build_data(
        spec,
        config,
        unlabeled=unlabeled,
        num_labeled=num_labeled,
        scale=settings["scale"],
        ratio=settings["ratio"],
        hflip=settings["hflip"],
        image_aug=image_augmentation(settings.get("image_aug")),
        seed=settings["seed"],
        **options,
    )
    for dataset in (bundle.labeled, bundle.test, bundle.unlabeled):
        for path, reason in getattr(dataset, "skipped", []) or []:
            print(f"skipped {path}: {reason}", file=sys.stderr)
    return bundle

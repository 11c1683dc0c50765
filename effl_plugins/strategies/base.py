"""What a strategy is: a recipe that trains (and may label, distill, self-train) on a DataBundle,
through the one engine (:mod:`effl_plugins.train`).

Every strategy takes ``model`` (a timm ``NAME[:CKPT]``), the model options ``pretrained``, ``drop`` and
``drop_path``, every :class:`~effl_plugins.train.TrainConfig` setting, plus its own, and implements::

    run(data: DataBundle, *, out_dir=None, device=None, resume=False) -> dict

The returned summary holds at least ``best_accuracy``, ``final_accuracy`` (in [0, 1]) and ``epochs``; with
``out_dir`` the strategy writes it to ``out_dir/summary.json`` once, at the end (:meth:`Strategy.finish`).
A shared setting a strategy does not apply is refused when it is built (:meth:`Strategy.refusals`).
"""

from __future__ import annotations

import os
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from .._validate import fraction
from ..checkpoint import Checkpoint
from ..errors import CheckpointError
from ..models import check_model_name, create_model, default_input_size, model_build_kwargs, parse_model_spec
from ..train import Engine, ModelInput, SupervisedTask, Task, TrainConfig, seed_everything
from ..train.config import refuse_settings
from ..train.distributed import distributed_info
from ..train.rundir import write_summary as write_summary_file
from ..train.tasks.base import SPLIT_REFUSALS

#: ``build_model``'s seed offset for a student: ``seed + STUDENT_SEED_OFFSET (+ round)``, so a student never
#: starts from the initialisation of the teacher it learns from (built at ``seed``).
STUDENT_SEED_OFFSET = 1

__all__ = ["Strategy", "SETTINGS", "STUDENT_SEED_OFFSET", "require_unlabeled"]

#: Why a strategy whose task has a loss of its own refuses ``--bce-loss`` (it replaces cross-entropy only).
BCE_REFUSAL = "learns through its own unlabeled-data loss; --bce-loss replaces the supervised cross-entropy only"

#: The keyword arguments every strategy takes besides its own: the engine's settings.
SETTINGS = tuple(f.name for f in fields(TrainConfig))
#: Their defaults (those given by value), what a setting a strategy is not passed holds.
_SETTING_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


class Strategy:
    """Base class of strategies: the model spec, model options and the engine's settings."""

    name = "strategy"
    #: Shared settings this strategy does not apply, ``{setting: reason}`` (see :meth:`refusals`).
    refused_settings: ClassVar[dict[str, str]] = {}
    #: whether a strategy without a ``task_class`` trains on timm's augmentation splits (its tasks all take them)
    takes_aug_splits: ClassVar[bool] = False

    @classmethod
    def refusals(cls) -> dict[str, str]:
        """The settings a run of this strategy refuses, before any model, file or step: its task's
        (``task_class.refusals()``) and its own ``refused_settings``; the message is ``"<name> <reason>"``
        (``SettingRefusedError``, one line)."""
        task = getattr(cls, "task_class", None)
        bce = {"bce_loss": BCE_REFUSAL} if task is not None else {}
        splits = {} if task is not None or cls.takes_aug_splits else SPLIT_REFUSALS
        return {**(task.refusals() if task is not None else {}), **bce, **splits, **cls.refused_settings}

    def run_refusals(self) -> dict[str, str]:
        """The settings this run refuses: :meth:`refusals`, and what a strategy's own arguments add (set before it
        calls ``Strategy.__init__``, which refuses them before the settings are checked)."""
        return self.refusals()

    def __init__(
        self,
        model: str = "test_resnet",
        *,
        pretrained: bool = False,
        drop: float = 0.0,
        drop_path: float | None = None,
        **settings: Any,
    ):
        if not isinstance(model, str) or not model:
            raise ValueError(f"model must be a timm model name or 'NAME:CHECKPOINT', got {model!r}")
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unknown arguments {unknown}; the shared settings are {', '.join(SETTINGS)}"
            )
        for key, value in (("drop", drop), ("drop_path", drop_path or 0.0)):
            fraction(value, key, below_one=True)
        self.model, self.pretrained, self.drop, self.drop_path = model, bool(pretrained), float(drop), drop_path
        given = {**_SETTING_DEFAULTS, **settings, "drop": drop, "drop_path": drop_path}
        refuse_settings(self.name, given, self.run_refusals())  # a refused --aug is refused, not looked up
        self.config = TrainConfig(**settings)  # checks aug once: parsed unless it came parsed, looked up, built once
        self._check_model_options()
        self.run_args: dict[str, Any] = {}
        #: Resume even when a setting that changes the run's meaning differs (``--resume-override``).
        self.resume_override = False

    def _check_model_options(self) -> None:
        """Refuse an ``img_size``/``model_kwargs`` the model cannot take and an ``initial_checkpoint`` beside a
        ``NAME:CKPT``."""
        c = self.config
        name, path = parse_model_spec(self.model)
        if c.initial_checkpoint is not None and path is not None:
            raise ValueError(
                f"--initial-checkpoint {c.initial_checkpoint}: model {self.model!r} already names a checkpoint; "
                "pass one of them"
            )
        if c.img_size is not None or c.model_kwargs:
            model_build_kwargs(check_model_name(name), c.img_size, c.model_kwargs)

    def sized_spec(self, spec: str) -> bool:
        """Whether a model built from ``spec`` takes the run's ``img_size``: the run's own model and any model
        built by name (trained here), not a teacher checkpoint (built at its own size)."""
        return spec == self.model or parse_model_spec(spec)[1] is None

    def checkpoint(self, spec: str) -> Checkpoint | None:
        """The checkpoint file ``NAME:CKPT`` names, read once by this strategy (None for a bare ``NAME``)."""
        path = parse_model_spec(spec)[1]
        read = self.__dict__.setdefault("_checkpoints", {})
        if path is not None and spec not in read:
            read[spec] = Checkpoint.read(path, spec)
        return read.get(spec)

    def check_teacher_head(self, teacher: nn.Module, spec: str, num_classes: int) -> None:
        """A teacher from checkpoint ``spec`` used as is must bring its own ``num_classes`` head: a re-initialised
        one teaches noise (nothing to check for a bare ``NAME``)."""
        checkpoint, classifier = self.checkpoint(spec), teacher.pretrained_cfg.get("classifier")
        rows = checkpoint.head_classes(classifier) if checkpoint and isinstance(classifier, str) else None
        if rows is not None and rows != num_classes:
            raise CheckpointError(
                f"teacher checkpoint {str(checkpoint.path)!r} has a {rows}-class head but the data has {num_classes} "
                f"classes; pass teacher_epochs > 0 to train a new head first (model {parse_model_spec(spec)[0]!r})"
            )

    # -- building blocks for subclasses
    def build_model(
        self,
        spec: str,
        num_classes: int,
        *,
        seed_offset: int = 0,
        drop: float | None = None,
        drop_path: float | None = None,
    ) -> nn.Module:
        """A timm model from ``NAME[:CKPT]``, initialised under ``seed + seed_offset``, with the run's model
        options: ``img_size`` (:meth:`sized_spec`); ``model_kwargs``, ``initial_checkpoint`` and
        ``grad_checkpointing`` on the run's own model; ``torchcompile`` compiling in place."""
        c = self.config
        if c.num_classes is not None and c.num_classes != num_classes:
            raise ValueError(f"--num-classes {c.num_classes}: the data has {num_classes} classes; pass {num_classes}")
        seed_everything(c.seed + seed_offset)
        kwargs: dict[str, Any] = {}
        drop = self.drop if drop is None else drop
        drop_path = self.drop_path if drop_path is None else drop_path
        if drop:
            kwargs["drop_rate"] = drop
        if drop_path:
            kwargs["drop_path_rate"] = drop_path
        if self.sized_spec(spec):
            kwargs["img_size"] = c.img_size
        if spec == self.model:  # timm's train.py: --model-kwargs and --initial-checkpoint are the model's
            kwargs["model_kwargs"] = c.model_kwargs or None
            if c.initial_checkpoint is not None:  # built at the run's size (the data's), not the file's
                spec = f"{spec}:{c.initial_checkpoint}"
                kwargs["img_size"] = c.img_size or default_input_size(parse_model_spec(spec)[0])
        model = create_model(spec, num_classes, pretrained=self.pretrained, checkpoint=self.checkpoint(spec), **kwargs)
        if c.grad_checkpointing and spec.partition(":")[0] == parse_model_spec(self.model)[0]:
            _grad_checkpointing(model)
        if c.torchcompile is not None:
            model.compile(backend=c.torchcompile, mode=c.torchcompile_mode)
        return model

    def model_input(self, model: nn.Module, data: Any, spec: str | None = None) -> ModelInput:
        """The normalisation (and size) ``model`` takes batches of ``data`` in: the data's own config for a model
        trained on ``data`` (``spec`` None); for a teacher ``spec``, the data config saved in its checkpoint, else
        its timm ``pretrained_cfg``."""
        from ..data import DataConfig, resolve_data_config

        config = getattr(data, "data_config", None)
        if spec is not None:
            saved = self.checkpoint(spec).data_config if parse_model_spec(spec)[1] else None
            config = DataConfig.from_dict(saved) if saved else resolve_data_config(model=model)
        return ModelInput.from_config(config, self.config.channels_last)

    def supervised_task(self, model: nn.Module, data: Any) -> SupervisedTask:
        """Cross-entropy on ``data``'s labels, ``model`` taking the data's own input."""
        jsd = self.config.aug_splits if self.config.jsd_loss else 0
        return SupervisedTask(model, self.model_input(model, data), self.config.smoothing, self.config.bce_loss, jsd)

    def run_info(self, model_spec: str, data: Any, extra_args: dict[str, Any] | None = None) -> dict[str, Any]:
        """What every checkpoint of this run records about it."""
        config = getattr(data, "data_config", None)
        args = {
            **self.run_args,
            "strategy": self.name,
            "model": model_spec,
            "data": getattr(data, "name", None),
            **self.config.to_dict(),
            **(extra_args or {}),
        }
        return {
            "arch": parse_model_spec(model_spec)[0],
            "num_classes": data.num_classes,
            "class_names": list(data.class_names or []),
            "data_config": config.to_dict() if config else None,
            "args": args,
            "meaning_keys": ("strategy", "model", "data", "stream", *self.run_identity_keys()),
        }

    def run_identity_keys(self) -> tuple[str, ...]:
        """The strategy arguments that identify the run (``meaning_keys``: a resume with others is refused)."""
        return ()

    def run_identity(self) -> dict[str, Any]:
        """:meth:`run_identity_keys` with this strategy's values (what ``run_args`` records of them)."""
        return {key: getattr(self, key) for key in self.run_identity_keys()}

    def engine(
        self,
        task: Task,
        data: Any,
        out_dir: str | os.PathLike | None,
        *,
        train_set=None,
        config=None,
        model_spec: str | None = None,
        **kwargs: Any,
    ) -> Engine:
        return Engine(
            task,
            train_set if train_set is not None else data.labeled,
            data.test,
            config or self.config,
            num_classes=data.num_classes,
            out_dir=out_dir,
            run_info=self.run_info(model_spec or self.model, data),
            **{"resume_override": self.resume_override, **kwargs},
        )

    def with_device(self, device: str | None) -> None:
        if device is not None:
            self.config = self.config.replace(device=device)

    @staticmethod
    def write_summary(out_dir: str | os.PathLike | None, summary: dict[str, Any]) -> None:
        """``out_dir/summary.json``, by rank 0 alone; nothing without ``out_dir``."""
        if out_dir is not None and distributed_info().main:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            write_summary_file(out_dir, summary)

    def finish(self, model: nn.Module, summary: dict[str, Any], out_dir: str | os.PathLike | None) -> dict[str, Any]:
        """The end of a one-model run: ``model`` becomes ``trained_model``; returns ``{"strategy": name,
        **summary}``, also written to ``out_dir/summary.json`` (the engine is built with ``write_summary=False``)."""
        self.trained_model = model
        result = {"strategy": self.name, **summary}
        self.write_summary(out_dir, result)
        return result

    def run(
        self, data: Any, *, out_dir: str | os.PathLike | None = None, device: str | None = None, resume: bool = False
    ) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, {self.config})"


def require_unlabeled(strategy: str, data: Any) -> None:
    """``ValueError`` naming ``strategy`` and the data when the DataBundle ``data`` has no unlabeled images."""
    if data.unlabeled is None or len(data.unlabeled) == 0:
        raise ValueError(f"strategy {strategy!r} needs unlabeled images: data {data.name!r} has none")


def _grad_checkpointing(model: nn.Module) -> None:
    """timm's ``set_grad_checkpointing()`` on ``model``; a model without it is a one-line ``ValueError``."""
    try:
        model.set_grad_checkpointing(True)
    except (AttributeError, AssertionError, NotImplementedError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ValueError(f"--grad-checkpointing: model {type(model).__name__} has none ({reason})") from None

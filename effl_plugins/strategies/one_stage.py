"""One-stage methods as strategies: one engine run of the method's task on the labeled stream and the
unlabeled stream (``mu`` unlabeled images per labeled one), an epoch being one pass over the unlabeled set.

A method lives in its task's module (``effl_plugins.train.tasks.fixmatch``: loss, task, arguments); here it
is named beside the task :class:`OneStage` runs, and takes the fields of ``task_class.Arguments``.
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from typing import Any, ClassVar

from torch import nn

from ..data import DataBundle
from ..train import Task
from ..train.tasks import FixMatchTask, FlexMatchTask, FreeMatchTask, MeanTeacherTask, SoftMatchTask, UDATask
from .base import SETTINGS, Strategy, require_unlabeled

#: The model options every strategy takes beside the engine's settings.
MODEL_OPTIONS = ("pretrained", "drop", "drop_path")

__all__ = ["OneStage", "FixMatch", "FlexMatch", "FreeMatch", "SoftMatch", "UDA", "MeanTeacher"]


class OneStage(Strategy):
    """A strategy that runs one task, ``task_class``, built with the method's arguments (each also an
    attribute; :attr:`arguments` holds them all) and what ``task_class.data_arguments`` reads off the data."""

    #: The :class:`~effl_plugins.train.Task` the engine runs, built as ``task_class(model, model_input, **kwargs)``.
    task_class: ClassVar[type[Task]]

    def __init_subclass__(cls, **kwargs: Any):
        """A method's strategy takes its task's arguments, documentation and conformance arguments."""
        super().__init_subclass__(**kwargs)
        cls.__signature__ = _signature(cls.task_class)
        cls.__doc__ = _documentation(cls.__doc__, cls.task_class)
        cls.conformance_kwargs = dict(getattr(cls.task_class, "conformance_kwargs", {}))

    def __init__(self, model: str = "test_resnet", **kwargs: Any):
        names = self.task_class.argument_names()
        unknown = sorted(set(kwargs) - set(names) - set(SETTINGS) - set(MODEL_OPTIONS))
        if unknown:
            raise TypeError(
                f"{self.name} got unknown arguments {unknown}; its own arguments are {', '.join(names)}, "
                f"the shared settings {', '.join((*MODEL_OPTIONS, *SETTINGS))}"
            )
        own = {key: kwargs.pop(key) for key in names if key in kwargs}
        super().__init__(model=model, **kwargs)
        self.arguments = self.task_class.Arguments(**own)
        vars(self).update(self.run_identity())

    def run_identity_keys(self) -> tuple[str, ...]:
        return self.task_class.argument_names()

    def run_identity(self) -> dict[str, Any]:
        return {f.name: getattr(self.arguments, f.name) for f in fields(self.arguments)}

    def task_kwargs(self, data: DataBundle) -> dict[str, Any]:
        """The task's keyword arguments: the method's, and those the data sets."""
        from_data = {"num_classes": data.num_classes, "num_unlabeled": len(data.unlabeled)}
        return {**self.run_identity(), **{k: from_data[k] for k in self.task_class.data_arguments}}

    def build_task(self, model: nn.Module, data: DataBundle) -> Task:
        """The task the engine runs on ``model``."""
        return self.task_class(model, self.model_input(model, data), **self.task_kwargs(data))

    def run(self, data: DataBundle, *, out_dir=None, device=None, resume: bool = False) -> dict[str, Any]:
        require_unlabeled(self.name, data)
        self.with_device(device)
        model = self.build_model(self.model, data.num_classes)
        task = self.build_task(model, data)
        self.run_args = {**self.run_args, **self.run_identity()}
        engine = self.engine(task, data, out_dir, unlabeled_set=data.unlabeled, write_summary=False)
        summary = engine.fit(resume=resume)
        return self.finish(task.eval_model(), summary, out_dir)


def _signature(task_class: type[Task]) -> inspect.Signature:
    """``(model="test_resnet", <the method's arguments>, **settings)``: what ``effl info`` and argument checks read."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    own = [inspect.Parameter(f.name, keyword, default=f.default) for f in fields(task_class.Arguments)]
    model = inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="test_resnet")
    return inspect.Signature([model, *own, inspect.Parameter("settings", inspect.Parameter.VAR_KEYWORD)])


def _documentation(summary: str, task_class: type[Task]) -> str:
    """``summary``, then the task module's docstring (the paper) and its arguments' docstrings."""
    paper = inspect.cleandoc(inspect.getmodule(task_class).__doc__)
    arguments = [inspect.cleandoc(k.__doc__) for k in task_class.Arguments.__mro__[:-1] if k.__doc__]
    return "\n\n".join([summary, paper, *arguments])


class FixMatch(OneStage):
    """FixMatch (Sohn et al. 2020): weak/strong consistency with a confidence threshold."""

    name, task_class = "fixmatch", FixMatchTask


class FlexMatch(OneStage):
    """FlexMatch (Zhang et al. 2021): FixMatch with curriculum per-class thresholds."""

    name, task_class = "flexmatch", FlexMatchTask


class FreeMatch(OneStage):
    """FreeMatch (Wang et al. 2023): FixMatch with self-adaptive thresholds and a fairness term."""

    name, task_class = "freematch", FreeMatchTask


class SoftMatch(OneStage):
    """SoftMatch (Chen et al. 2023): FixMatch with truncated-Gaussian sample weights and uniform alignment."""

    name, task_class = "softmatch", SoftMatchTask


class UDA(OneStage):
    """UDA (Xie et al. 2020): sharpened weak-to-strong consistency with a confidence mask, optional TSA."""

    name, task_class = "uda", UDATask


class MeanTeacher(OneStage):
    """Mean Teacher (Tarvainen & Valpola 2017): EMA-teacher consistency training."""

    name, task_class = "mean_teacher", MeanTeacherTask

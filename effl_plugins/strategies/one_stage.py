"""One-stage methods as strategies: one engine run of the method's task on the labeled stream and the
unlabeled stream (``mu`` unlabeled images per labeled one), an epoch being one pass over the unlabeled set.

A method lives in one module, its task's (``effl_plugins.train.tasks.fixmatch`` holds FixMatch's loss,
task and :class:`~effl_plugins.train.tasks.fixmatch.FixMatchArguments`); :func:`one_stage` makes the
strategy that runs it, registered under the method's name. The strategy takes the task's arguments (the
fields of ``task_class.Arguments``, checked once when it is built) beside the shared settings of
:class:`~effl_plugins.strategies.base.Strategy`.
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

__all__ = ["OneStage", "one_stage", "FixMatch", "FlexMatch", "FreeMatch", "SoftMatch", "UDA", "MeanTeacher"]


class OneStage(Strategy):
    """A strategy that runs one task, ``task_class``, built with the method's arguments and what
    ``task_class.data_arguments`` reads off the data (``num_classes``, ``num_unlabeled``).

    Each argument is also an attribute (``strategy.threshold``); :attr:`arguments` holds them all.
    """

    #: The :class:`~effl_plugins.train.Task` the engine runs, built as ``task_class(model, model_input, **kwargs)``.
    task_class: ClassVar[type[Task]]

    def __init__(self, model: str = "test_resnet", **kwargs: Any):
        names = self.task_class.argument_names()
        unknown = sorted(set(kwargs) - set(names) - set(SETTINGS))
        if unknown:
            raise TypeError(
                f"{self.name} got unknown arguments {unknown}; its own arguments are {', '.join(names)}, "
                f"the shared settings {', '.join(SETTINGS)}"
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


def one_stage(name: str, task_class: type[Task]) -> type[OneStage]:
    """The strategy registered as ``name`` that runs ``task_class``: its docstring the task module's (the
    paper), its conformance arguments the task's."""
    summary = task_class.__doc__.strip().splitlines()[0]
    paper = inspect.cleandoc(inspect.getmodule(task_class).__doc__)
    arguments = [inspect.cleandoc(k.__doc__) for k in task_class.Arguments.__mro__[:-1] if k.__doc__]
    attributes = {
        "name": name,
        "task_class": task_class,
        "__doc__": "\n\n".join([summary, paper, *arguments]),
        "__module__": __name__,
        "__signature__": _signature(task_class),
        "conformance_kwargs": dict(getattr(task_class, "conformance_kwargs", {})),
    }
    return type(task_class.__name__.removesuffix("Task"), (OneStage,), attributes)


FixMatch = one_stage("fixmatch", FixMatchTask)
FlexMatch = one_stage("flexmatch", FlexMatchTask)
FreeMatch = one_stage("freematch", FreeMatchTask)
SoftMatch = one_stage("softmatch", SoftMatchTask)
UDA = one_stage("uda", UDATask)
MeanTeacher = one_stage("mean_teacher", MeanTeacherTask)

"""What the consistency-training strategies share (FixMatch and its kin, Mean Teacher): one engine run of
a task that draws the labeled stream and an unlabeled stream (``mu`` unlabeled images per labeled one),
an epoch being one pass over the unlabeled set."""

from __future__ import annotations

from typing import Any

from torch import nn

from ...data import DataBundle
from ...train import Task
from ..base import Strategy
from .training import require_unlabeled

__all__ = ["ConsistencyStrategy"]


class ConsistencyStrategy(Strategy):
    """A strategy whose one task learns from labeled and unlabeled images together.

    A subclass names its ``task_class``; the task takes every setting that changes the run's meaning
    (``meaning_keys``) as keyword arguments, plus what :meth:`task_kwargs` reads off the data.
    """

    #: The :class:`~effl_plugins.train.Task` the engine runs, built as ``task_class(model, model_input, **kwargs)``.
    task_class: type[Task]

    def task_kwargs(self, data: DataBundle) -> dict[str, Any]:
        """The task's keyword arguments: the strategy's meaning settings (a subclass adds what the data sets)."""
        return self.meaning()

    def build_task(self, model: nn.Module, data: DataBundle) -> Task:
        """The task the engine runs on ``model``."""
        return self.task_class(model, self.model_input(model, data), **self.task_kwargs(data))

    def run(self, data: DataBundle, *, out_dir=None, device=None, resume: bool = False) -> dict[str, Any]:
        require_unlabeled(self.name, data)
        self.with_device(device)
        model = self.build_model(self.model, data.num_classes)
        task = self.build_task(model, data)
        self.run_args = {**self.run_args, **self.meaning()}
        engine = self.engine(task, data, out_dir, unlabeled_set=data.unlabeled, write_summary=False)
        summary = engine.fit(resume=resume)
        return self.finish(task.eval_model(), summary, out_dir)

"""Training: one engine, a task per objective, the settings they share.

``Engine(task, train_set, eval_set, config, num_classes=K).fit()`` runs any :class:`Task`; see
:mod:`effl_plugins.train.engine` for what a run writes and how it resumes.
"""

from .config import TrainConfig
from .engine import Engine, NonFiniteLossError, TrainingInterrupted, resolve_device, seed_everything
from .evaluation import evaluate
from .inputs import ModelInput
from .tasks import Batch, DistillationTask, FixMatchTask, MeanTeacherTask, SupervisedTask, Task

__all__ = [
    "Engine",
    "TrainConfig",
    "Task",
    "Batch",
    "SupervisedTask",
    "DistillationTask",
    "FixMatchTask",
    "MeanTeacherTask",
    "ModelInput",
    "evaluate",
    "resolve_device",
    "seed_everything",
    "TrainingInterrupted",
    "NonFiniteLossError",
]

"""Training tasks: one objective each, all run by :class:`effl_plugins.train.Engine`."""

from .base import Batch, Task
from .distillation import DistillationTask, FeatureModel, TeacherRecordingTask
from .fixmatch import FixMatchTask, fixmatch_unlabeled_loss
from .flexmatch import FlexMatchTask
from .freematch import FreeMatchTask
from .mean_teacher import MeanTeacherTask, ema_decay_at, ema_update, sigmoid_rampup, softmax_mse
from .softmatch import SoftMatchTask
from .supervised import SupervisedTask, classification_loss
from .uda import UDATask

__all__ = [
    "Batch",
    "Task",
    "SupervisedTask",
    "DistillationTask",
    "TeacherRecordingTask",
    "FixMatchTask",
    "MeanTeacherTask",
    "FeatureModel",
    "FlexMatchTask",
    "FreeMatchTask",
    "SoftMatchTask",
    "UDATask",
    "classification_loss",
    "fixmatch_unlabeled_loss",
    "ema_decay_at",
    "ema_update",
    "sigmoid_rampup",
    "softmax_mse",
]

"""Training tasks: one objective each, all run by :class:`effl_plugins.train.Engine`."""

from .base import Batch, Task
from .distillation import DistillationTask, FeatureModel
from .fixmatch import FixMatchTask, fixmatch_unlabeled_loss
from .mean_teacher import MeanTeacherTask, ema_update, sigmoid_rampup, softmax_mse
from .supervised import SupervisedTask, classification_loss

__all__ = ["Batch", "Task", "SupervisedTask", "DistillationTask", "FixMatchTask", "MeanTeacherTask", "FeatureModel",
           "classification_loss", "fixmatch_unlabeled_loss", "ema_update", "sigmoid_rampup", "softmax_mse"]

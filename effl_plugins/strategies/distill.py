"""Knowledge distillation: a frozen teacher (in eval mode, no gradients) teaches a student through a
registered loss (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network").

The teacher is ``NAME[:CKPT]``; with no checkpoint (or ``teacher_epochs`` > 0) it is first trained
on the labeled data (into ``out_dir/teacher``). The student then learns on the labeled images (loss
with targets) and, where the data has them, the unlabeled ones (loss without targets: the teacher's
soft labels alone). A teacher brought from a checkpoint sees the batch at its own input size and
normalisation.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from .._validate import integer, non_negative
from ..kv import checked_factory
from ..models import parse_model_spec
from ..train import DistillationTask
from ..train.distributed import rank_and_world
from .base import Strategy

__all__ = ["Distill"]

#: Why a run with no teacher training refuses ``smoothing``.
NO_SMOOTHING = (
    "trains no teacher here (teacher_epochs=0: the checkpoint teaches as is) and its student learns through "
    "--loss: --smoothing has no effect; pass the loss's own arguments with --loss-arg, or train the teacher "
    "(--teacher-epochs N), whose cross-entropy takes it"
)


NO_BCE = (
    "without teacher training learns through --loss alone: --bce-loss has no effect; choose the loss with --loss, "
    "or train the teacher (--teacher-epochs N), whose cross-entropy it replaces"
)


class Distill(Strategy):
    """Distil ``teacher`` into the student ``model``.

    Args:
        model: the student, a timm ``NAME[:CKPT]``.
        teacher: the teacher, a timm ``NAME[:CKPT]``.
        loss: a registered loss name (``ep.list_losses()``), built with ``loss_args``.
        teacher_epochs: epochs of supervised teacher training first (default: ``epochs`` when no
            checkpoint is given, else 0).
        teacher_lr: the teacher's learning rate (default ``lr``).
        teacher_cache: a directory written by :meth:`record_cache` (``effl teacher-cache``): the student
            learns from the teacher's stored outputs on exactly its views, and no teacher is built
            (:mod:`.teacher_cache`; losses on features and ``mse_logits`` are refused).
        use_unlabeled: also distil on the data's unlabeled images (default True); a loss that needs a
            target class (dkd, nkd) then takes the teacher's argmax there (``target_from_teacher=True``).
        unlabeled_weight: weight of the unlabeled images' mean loss beside the labeled images' (1): a
            step's loss is ``L_labeled + unlabeled_weight · L_unlabeled``, so ``kd``'s ``alpha`` applies
            to the labeled images as in the paper, whatever their share of the batch.
        Every other shared setting: see :class:`~effl_plugins.strategies.base.Strategy`.
    """

    #: Arguments of the conformance checks (effl_plugins.testing): a teacher is required.
    conformance_kwargs = {"teacher": "test_efficientnet"}

    name = "distill"

    def __init__(
        self,
        model: str = "test_resnet",
        teacher: str = "resnet10t",
        loss: str = "kd",
        loss_args: dict | None = None,
        teacher_epochs: int | None = None,
        teacher_lr: float | None = None,
        use_unlabeled: bool = True,
        unlabeled_weight: float = 1.0,
        teacher_cache: str | None = None,
        **kwargs: Any,
    ):
        if not isinstance(teacher, str) or not teacher:
            raise ValueError(f"teacher must be a timm model name or 'NAME:CHECKPOINT', got {teacher!r}")
        if loss_args is not None and not isinstance(loss_args, dict):
            raise TypeError(f"loss_args must be a dict of keyword arguments, got {type(loss_args).__name__}")
        integer(teacher_epochs, "teacher_epochs", low=0, optional=True)
        has_checkpoint = parse_model_spec(teacher)[1] is not None
        self._teacher_trains = bool(teacher_epochs) if teacher_epochs is not None else not has_checkpoint
        super().__init__(model=model, **kwargs)  # refuses what run_refusals names before the settings are checked
        self.teacher, self.loss, self.loss_args = teacher, loss, dict(loss_args or {})
        self.teacher_epochs = (
            teacher_epochs if teacher_epochs is not None else (self.config.epochs if self._teacher_trains else 0)
        )
        self.teacher_lr = float(teacher_lr if teacher_lr is not None else self.config.lr)
        self.loss_factory = checked_factory("losses", loss, self.loss_args)  # after the refusals: none looked up
        self.use_unlabeled = use_unlabeled
        self.unlabeled_weight = non_negative(unlabeled_weight, "unlabeled_weight")
        self.teacher_cache = None if teacher_cache is None else str(teacher_cache)
        if self.teacher_cache is not None:
            self._check_cache_use(teacher_epochs)

    def run_refusals(self) -> dict[str, str]:
        """:meth:`refusals`, and ``smoothing`` and ``bce_loss`` when no teacher is trained here: the one
        supervised loss they would reach is the teacher's training."""
        untrained = {} if self._teacher_trains else {"smoothing": NO_SMOOTHING, "bce_loss": NO_BCE}
        return {**self.refusals(), **untrained}

    def _check_cache_use(self, teacher_epochs: int | None) -> None:
        """A stored teacher takes no teacher training and no loss that needs more than its distribution."""
        from ..train.tasks.distillation import feature_levels
        from .teacher_cache import RAW_LOGIT_LOSSES

        if teacher_epochs:
            raise ValueError(
                f"teacher_epochs={teacher_epochs}: a teacher cache holds a trained teacher's outputs; leave it out"
            )
        self.teacher_epochs = 0
        if self.loss in RAW_LOGIT_LOSSES:
            raise ValueError(
                f"loss {self.loss!r} reads the teacher's raw logits; a teacher cache holds its probabilities "
                "(use kd, dkd, dist, nkd, ctkd, soft_target_ce, logit_std_kd, or a live teacher)"
            )
        if feature_levels(self.loss_factory(**self.unlabeled_loss_args())):
            raise ValueError(
                f"loss {self.loss!r} reads the teacher's feature maps; a teacher cache holds its output "
                "distribution only: distil with a live teacher (--teacher) or a logit loss"
            )

    def run_identity_keys(self) -> tuple[str, ...]:
        return ("teacher", "loss", "loss_args", "unlabeled_weight", "teacher_cache")

    def build(self, num_classes: int) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
        """(teacher, student, loss): every error (unknown name, wrong checkpoint, bad loss argument) here."""
        loss = self.loss_factory(**self.unlabeled_loss_args())
        teacher = self.build_model(self.teacher, num_classes)
        if self.teacher_epochs == 0:
            self.check_teacher_head(teacher, self.teacher, num_classes)
        student = self.build_model(self.model, num_classes, seed_offset=1)
        return teacher, student, loss

    def unlabeled_loss_args(self) -> dict:
        """``loss_args``, plus ``target_from_teacher=True`` for a loss that needs a target class (dkd, nkd)
        when unlabeled images are used and the caller did not choose: their rows take the teacher's argmax."""
        accepted = inspect.signature(self.loss_factory).parameters
        if self.use_unlabeled and "target_from_teacher" in accepted and "target_from_teacher" not in self.loss_args:
            return {**self.loss_args, "target_from_teacher": True}
        return dict(self.loss_args)

    def sized_loss(self, loss, student, teacher, student_input, teacher_input) -> torch.nn.Module:
        """The loss rebuilt with ``student_channels``/``teacher_channels`` read off both models (one no-grad
        forward of two blank images) when it takes them and they were not given, so its adapters exist before
        the optimizer is built."""
        from ..train.tasks.distillation import FeatureModel, feature_levels

        levels = feature_levels(loss)
        accepted = inspect.signature(type(loss).__init__).parameters
        if not levels or "student_channels" not in accepted or self.loss_args.get("student_channels") is not None:
            return loss
        size = student_input.size or (224, 224)
        blank = torch.zeros(2, 3, *size, dtype=torch.uint8)
        widths = []
        for model, model_input in ((student, student_input), (teacher, teacher_input)):
            mode = model.training
            with torch.no_grad():
                widths.append(_widths(FeatureModel(model.eval(), levels)(model_input(blank))[1]))
            model.train(mode)
        return self.loss_factory(**{**self.loss_args, "student_channels": widths[0], "teacher_channels": widths[1]})

    def train_set(self, data):
        if self.use_unlabeled and data.unlabeled is not None and len(data.unlabeled):
            return torch.utils.data.ConcatDataset([data.labeled, data.unlabeled])
        return data.labeled

    def views(self, data, student_input) -> dict[str, Any]:
        """What decides this run's views (:func:`.teacher_cache.view_settings`)."""
        from .teacher_cache import view_settings

        return view_settings(self.config.to_dict(), self.train_set(data), student_input, rank_and_world()[1])

    def record_cache(
        self,
        data,
        cache_dir,
        *,
        top_k: int | None = None,
        shard_steps: int = 50,
        precision: str = "float32",
        resume: bool = False,
    ) -> dict[str, Any]:
        """Store the teacher's class probabilities on every view a distillation run with these settings draws,
        in ``cache_dir`` (:mod:`.teacher_cache`); the teacher must come from a checkpoint. ``top_k`` keeps each
        view's k most probable classes (None: all); ``precision`` is their dtype on disk (``"float32"`` or
        ``"float16"``); ``resume`` continues a stopped recording. Returns what was written."""
        from ..train.tasks import TeacherRecordingTask
        from .selftrain.store import StoreSpec, file_hash, store_lock
        from .teacher_cache import CacheWriter, ViewLayout, new_cache_info, write_cache_info

        integer(top_k, "top_k", low=1, high=data.num_classes, optional=True)
        integer(shard_steps, "shard_steps", low=1)
        path = parse_model_spec(self.teacher)[1]
        if path is None:
            raise ValueError(
                f"teacher {self.teacher!r}: a teacher cache records a trained teacher; pass NAME:CHECKPOINT"
            )
        root = Path(cache_dir)
        rank = rank_and_world()[0]
        if not resume and _occupied_before_any_rank_writes(root, self.config.device):
            raise FileExistsError(
                f"teacher cache {str(root)!r} is not an empty directory; pass resume=True (--resume) to continue "
                "its recording, or choose a new directory"
            )
        teacher = self.build_model(self.teacher, data.num_classes)
        self.check_teacher_head(teacher, self.teacher, data.num_classes)
        student = self.build_model(self.model, data.num_classes, seed_offset=1)
        train_set = self.train_set(data)
        _refuse_streamed(train_set)
        student_input = self.model_input(student, data)
        views = self.views(data, student_input)
        layout = ViewLayout.of(
            len(train_set), self.config.batch_size, views["world_size"], self.config.epochs, shard_steps
        )
        digest = file_hash(path)
        k = data.num_classes
        fields = {"teacher": self.teacher, "teacher_hash": digest, "epochs": self.config.epochs, "top_k": top_k}
        info = new_cache_info(layout, **fields, num_classes=k, views=views)
        write_cache_info(root, info, resume=resume or rank != 0)
        spec = StoreSpec(
            digest, layout.total, k, shard_size=shard_steps * layout.batch_size, top_k=top_k, precision=precision
        )
        with store_lock(root, rank):
            writer = CacheWriter(root, info, spec, rank, resume)
            teacher_input = self.model_input(teacher, data, spec=self.teacher)
            task = TeacherRecordingTask(teacher, teacher_input, writer, student_input)
            summary = self.engine(task, data, root / "run", train_set=train_set, model_spec=self.teacher).fit(resume)
            complete = writer.finish()
        shards = sorted(root.glob(f"shard-r{rank:05d}-*.safetensors"))
        return {
            "cache": str(root),
            "teacher": self.teacher,
            "views": layout.total,
            "epochs": self.config.epochs,
            "top_k": top_k,
            "precision": precision,
            "complete": complete,
            "teacher_accuracy": summary["final_accuracy"],
            "shard_bytes": sum(f.stat().st_size for f in shards),
        }

    def run(self, data, *, out_dir=None, device=None, resume=False) -> dict[str, Any]:
        self.with_device(device)
        if self.teacher_cache is not None:
            return self._run_from_cache(data, out_dir, resume)
        teacher, student, loss = self.build(data.num_classes)
        self.run_args = {**self.run_args, **self.run_identity()}
        teacher_summary = None
        if self.teacher_epochs:
            config = self.config.replace(epochs=self.teacher_epochs, lr=self.teacher_lr)
            teacher_dir = Path(out_dir) / "teacher" if out_dir is not None else None
            task = self.supervised_task(teacher, data)
            teacher_resume = resume and teacher_dir is not None and (teacher_dir / "checkpoint.pt").is_file()
            teacher_summary = self.engine(task, data, teacher_dir, config=config, model_spec=self.teacher).fit(
                teacher_resume
            )
            teacher_input = self.model_input(teacher, data)
        else:
            teacher_input = self.model_input(teacher, data, spec=self.teacher)
        student_input = self.model_input(student, data)
        loss = self.sized_loss(loss, student, teacher, student_input, teacher_input)
        task = DistillationTask(student, student_input, teacher, teacher_input, loss, self.unlabeled_weight)
        extra = {} if teacher_summary is None else {"teacher_accuracy": teacher_summary["final_accuracy"]}
        return self._fit_student(task, data, out_dir, resume, {"teacher": self.teacher}, extra)

    def _run_from_cache(self, data, out_dir, resume: bool) -> dict[str, Any]:
        """The student learns from the stored teacher outputs of its views: no teacher is built."""
        from .teacher_cache import CacheReader

        _refuse_streamed(self.train_set(data))
        loss = self.loss_factory(**self.unlabeled_loss_args())
        student = self.build_model(self.model, data.num_classes, seed_offset=1)  # as when a teacher is built
        student_input = self.model_input(student, data)
        rank = rank_and_world()[0]
        reader = CacheReader(
            self.teacher_cache, self.views(data, student_input), self.config.epochs, rank, data.num_classes
        )
        self.run_args = {**self.run_args, **self.run_identity()}
        task = DistillationTask(student, student_input, None, None, loss, self.unlabeled_weight, teacher_source=reader)
        teacher = {"teacher": reader.info["teacher"], "teacher_cache": self.teacher_cache}
        return self._fit_student(task, data, out_dir, resume, teacher)

    def _fit_student(self, task, data, out_dir, resume: bool, teacher: dict, extra: dict | None = None) -> dict:
        """Train the student of ``task``; the result (``teacher`` naming where its teacher came from) extends the
        engine's summary, written once as ``summary.json``."""
        summary = self.engine(task, data, out_dir, train_set=self.train_set(data), write_summary=False).fit(resume)
        self.trained_model, self.teacher_model = task.model, task.teacher
        result = {"strategy": self.name, **teacher, "loss": self.loss, **summary, **(extra or {})}
        self.write_summary(out_dir, result)
        return result


def _occupied_before_any_rank_writes(root: Path, device: str | None) -> bool:
    """Whether ``root`` held anything when this recording began, as rank 0 saw it before any rank wrote there
    (every rank takes rank 0's answer, so every rank refuses alike)."""
    from ..train.distributed import all_sum, init_distributed
    from ..train.engine import resolve_device

    info, rank_device = init_distributed(resolve_device(device))  # the group the engine then joins
    occupied = info.main and root.exists() and (not root.is_dir() or any(p.name != "lock" for p in root.iterdir()))
    return all_sum([float(occupied)], info, rank_device)[0] > 0


def _widths(features) -> int | list[int]:
    """Channel counts of feature maps ``[B, C, H, W]`` (or widths of tokens ``[B, N, C]``)."""
    width = lambda f: int(f.shape[1] if f.ndim == 4 else f.shape[-1])  # noqa: E731
    return [width(f) for f in features] if isinstance(features, list) else width(features)


def _refuse_streamed(train_set) -> None:
    """A teacher cache lays views out by step, with equal rows on every rank: sharded and Hugging Face data
    (unequal last batches) are refused."""
    from ..train.streams import exactly_once

    if exactly_once(train_set):
        raise ValueError(
            "--teacher-cache records folder and digits data; sharded (wds/) and Hugging Face (hfds/) data "
            "train with the live teacher: drop --teacher-cache"
        )

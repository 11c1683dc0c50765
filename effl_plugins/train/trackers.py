"""Experiment trackers (``--log tensorboard,wandb,mlflow``): the scalars of ``metrics.jsonl`` sent to
TensorBoard, Weights & Biases and MLflow, written inside the run directory by rank 0.

Where each writes, and how to read it:

- ``tensorboard``: event files in ``OUT/tensorboard`` (``tensorboard --logdir OUT``).
- ``wandb``: a W&B run in ``OUT/wandb``, offline unless ``WANDB_MODE`` says otherwise (``wandb sync
  OUT/wandb/offline-run-*`` uploads it); a resumed run continues the same W&B run id (a new folder).
- ``mlflow``: a local MLflow store in ``OUT/mlruns``: ``mlruns/mlflow.db`` (SQLite, MLflow's local
  backend; ``mlflow ui --backend-store-uri sqlite:///OUT/mlruns/mlflow.db``) and ``mlruns/artifacts``,
  experiment ``effl``; a resumed run continues its MLflow run.
- ``csv``: ``OUT/summary.csv``, which every run writes anyway (nothing more is written).

Each epoch's record is logged with the epoch as its step, under ``metrics.jsonl``'s names; every
``log_interval`` steps ``step/train_loss``, ``step/lr`` and ``step/img_per_s`` with the global step.

The tracker's folder is listed in the run's ``written.json`` (``--overwrite`` removes it whole); a folder of
that name the run did not make is refused. Each tracker is an optional extra: ``pip install
'effl-plugins[tensorboard]'`` (``wandb``, ``mlflow``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import EfflError
from ..written import RECORD_NAME, make_dirs, read_record

__all__ = [
    "TRACKER_FOLDERS",
    "TrackerUnavailableError",
    "TrackerFolderError",
    "Trackers",
    "check_available",
    "mlflow_uri",
]

#: The folder each tracker writes inside the run directory (each needs the module, and the extra, of its name).
TRACKER_FOLDERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlruns"}


class TrackerUnavailableError(EfflError, ImportError):
    """A ``--log`` tracker whose library is not installed; names the extra that installs it."""


class TrackerFolderError(EfflError, ValueError):
    """A tracker's folder exists in the run directory but this run did not make it."""


def check_available(names: Iterable[str]) -> None:
    """Raise :class:`TrackerUnavailableError` for the first of ``names`` whose library is missing."""
    for name in names:
        if name in TRACKER_FOLDERS and importlib.util.find_spec(name) is None:
            raise TrackerUnavailableError(
                f"--log {name} needs the {name} package, which is not installed: pip install 'effl-plugins[{name}]'"
            )


def _scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of ``values`` as floats (booleans, text and None left out)."""
    return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _listed_by_a_record(folder: Path) -> bool | None:
    """Whether the nearest ``written.json`` above ``folder`` lists it; None when there is no record."""
    folder = Path(os.path.abspath(folder))
    for root in folder.parents:
        found = read_record(root)
        if found is not None:
            return folder.relative_to(root).as_posix() in found[1]
        if (root / RECORD_NAME).exists():
            return None
    return None


def claim_folder(folder: Path, name: str) -> Path:
    """Make ``folder`` (listed in the run's record) or take one this run made before (a resume, a run
    restarted before its first checkpoint); refuse a symlink, a file, or a folder some other hand made."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise TrackerFolderError(f"--log {name}: {str(folder)!r} is not a folder; move it away")
    if folder.is_dir():
        if _listed_by_a_record(folder) is False:
            raise TrackerFolderError(
                f"--log {name}: {str(folder)!r} exists and this run did not make it (--overwrite would not "
                "remove it); move it away or choose another --out"
            )
        return folder
    return make_dirs(folder)


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Warnings off and ``loggers`` at WARNING for the block."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in loggers:
                logging.getLogger(name).setLevel(logging.WARNING)
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


class _TensorBoard:
    """Event files through ``torch.utils.tensorboard``; the settings as a text summary at the start."""

    def __init__(self, folder: Path, run_name: str, config: Mapping[str, Any], resume: bool):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder))
        if not resume:
            self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in sorted(config.items())), 0)

    def log(self, scalars: Mapping[str, float], step: int, axis: str) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)

    def close(self, finished: bool) -> None:
        self.writer.close()


class _Wandb:
    """A W&B run with the settings as its config; offline unless ``WANDB_MODE`` says otherwise."""

    def __init__(self, folder: Path, run_name: str, config: Mapping[str, Any], resume: bool):
        import wandb

        settings = wandb.Settings(console="off", silent=True, x_disable_stats=True)
        previous = _last_wandb_run_id(folder) if resume else None
        self.run = wandb.init(
            id=previous,
            resume="allow" if previous else None,
            project=os.environ.get("WANDB_PROJECT", "effl"),
            name=run_name,
            dir=str(folder.parent),
            mode=os.environ.get("WANDB_MODE", "offline"),
            config=dict(config),
            settings=settings,
            reinit="create_new",
        )

    def log(self, scalars: Mapping[str, float], step: int, axis: str) -> None:
        self.run.log({**scalars, axis: step})  # W&B's own step only grows: the axis is a field

    def close(self, finished: bool) -> None:
        self.run.finish(exit_code=0 if finished else 1)


def _last_wandb_run_id(folder: Path) -> str | None:
    """The id of the newest W&B run in ``folder`` (its run folders are ``[offline-]run-DATE_TIME-ID``)."""
    runs = [p.name for p in folder.glob("*run-*-*") if p.is_dir() and not p.is_symlink()]
    runs.sort(key=lambda name: name.removeprefix("offline-").split("-", 2)[1])
    return runs[-1].rsplit("-", 1)[-1] if runs else None


class _Mlflow:
    """An MLflow run in experiment ``effl`` of the SQLite store in the folder; the settings as params."""

    def __init__(self, folder: Path, run_name: str, config: Mapping[str, Any], resume: bool):
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        with _quiet("mlflow", "alembic"):  # the store's set-up logs and warns on every new database
            self.client = MlflowClient(tracking_uri=mlflow_uri(folder))
            experiment = self.client.get_experiment_by_name("effl")
        experiment_id = (
            experiment.experiment_id
            if experiment
            else self.client.create_experiment("effl", artifact_location=(folder.resolve() / "artifacts").as_uri())
        )
        previous = self.client.search_runs([experiment_id], order_by=["attribute.start_time DESC"], max_results=1)
        if resume and previous:
            self.run_id = previous[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
            params = [Param(str(k)[:250], str(v)[:6000]) for k, v in sorted(config.items())]
            for start in range(0, len(params), 100):
                self.client.log_batch(self.run_id, params=params[start : start + 100])

    def log(self, scalars: Mapping[str, float], step: int, axis: str) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in scalars.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, finished: bool) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED" if finished else "KILLED")


def mlflow_uri(folder: Path) -> str:
    """The tracking URI of the MLflow store in ``folder``: a SQLite file, ``mlflow.db``."""
    return f"sqlite:///{folder.resolve() / 'mlflow.db'}"


_OPENERS = {"tensorboard": _TensorBoard, "wandb": _Wandb, "mlflow": _Mlflow}


class Trackers:
    """The trackers of one run directory; every call is a no-op when there are none."""

    def __init__(self, trackers: Sequence[Any] = ()):
        self.trackers = list(trackers)

    @classmethod
    def open(
        cls, names: Iterable[str], out_dir: Path, *, run_name: str, config: Mapping[str, Any], resume: bool
    ) -> Trackers:
        """Open each of ``names`` (``csv`` opens nothing) in its folder of ``out_dir``."""
        opened = cls()
        try:
            for name in names:
                if name in _OPENERS:
                    check_available([name])
                    folder = claim_folder(out_dir / TRACKER_FOLDERS[name], name)
                    opened.trackers.append(_OPENERS[name](folder, run_name, config, resume))
        except BaseException:
            opened.close(finished=False)
            raise
        return opened

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def log_epoch(self, record: Mapping[str, Any]) -> None:
        """One epoch's record (``metrics.jsonl``'s fields), at step ``record["epoch"]``."""
        scalars = _scalars({k: v for k, v in record.items() if k != "epoch"})
        for tracker in self.trackers:
            tracker.log(scalars, int(record["epoch"]), "epoch")

    def log_step(self, scalars: Mapping[str, float], global_step: int) -> None:
        """Scalars of the steps since the last call, at ``global_step``, each named ``step/<name>``."""
        named = {f"step/{k}": float(v) for k, v in scalars.items()}
        for tracker in self.trackers:
            tracker.log(named, global_step, "global_step")

    def close(self, finished: bool = True) -> None:
        """Flush and close every tracker (``finished`` False: the run stopped early or failed)."""
        trackers, self.trackers = self.trackers, []
        for tracker in trackers:
            tracker.close(finished)

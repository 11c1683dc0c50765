"""``checkpoint_interval``: ``checkpoint.pt`` every N optimizer steps inside an epoch as well as at its end,
and a run continued from such a checkpoint ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import shutil

import pytest

from effl_plugins.testing import small_digits
from effl_plugins.train import TrainConfig

from ._helpers import assert_same_tensors, checkpoint, engine, make_task, records


@pytest.fixture(scope="module")
def data():
    return small_digits(labeled=20, test=16, unlabeled=24)


def _config(**changes) -> TrainConfig:
    base = dict(epochs=2, batch_size=8, lr=1e-2, seed=3, device="cpu", amp="off", progress=False, sched="cosine")
    return TrainConfig(**{**base, **changes})


def _saves(run, copy_at=None, copy_to=None) -> list[tuple[int, int]]:
    """The (epoch, step) of every checkpoint ``run`` saves; the one at ``copy_at`` is copied to ``copy_to``."""
    saved: list[tuple[int, int]] = []
    save = run.save_checkpoint

    def record(best: bool = False) -> None:
        save(best=best)
        saved.append((run.epoch, run.step))
        if saved[-1] == copy_at:
            copy_to.mkdir()
            shutil.copy(run.checkpoint_path, copy_to / "checkpoint.pt")

    run.save_checkpoint = record
    return saved


@pytest.mark.parametrize(
    ("changes", "want"),
    [
        ({"checkpoint_interval": 0}, [(1, 0), (2, 0)]),  # 20 images at 8: 3 steps an epoch
        ({"checkpoint_interval": 1}, [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]),
        ({"checkpoint_interval": 2}, [(0, 2), (1, 0), (1, 2), (2, 0)]),
        ({"checkpoint_interval": 1, "grad_accum_steps": 2}, [(0, 2), (1, 0), (1, 2), (2, 0)]),  # optimizer steps
    ],
)
def test_saves_every_n_optimizer_steps_and_every_epoch(data, tmp_path, changes, want):
    run = engine(make_task("supervised", data), data, tmp_path, _config(**changes))
    saved = _saves(run)
    run.fit()
    assert saved == want


def test_no_run_directory_saves_nothing_mid_epoch(data):
    run = engine(make_task("supervised", data), data, None, _config(checkpoint_interval=1))
    saved = _saves(run)
    run.fit()
    assert saved == [(1, 0), (2, 0)]


def test_resumed_from_a_mid_epoch_checkpoint_equals_uninterrupted(data, tmp_path):
    config = _config(checkpoint_interval=1, aug="brightness(max_delta=0.3)", mixup=0.5, model_ema=True)
    run = engine(make_task("supervised", data), data, tmp_path / "straight", config)
    _saves(run, copy_at=(1, 1), copy_to=tmp_path / "killed")
    run.fit()
    assert (checkpoint(tmp_path / "killed")["epoch"], checkpoint(tmp_path / "killed")["step"]) == (1, 1)
    engine(make_task("supervised", data), data, tmp_path / "killed", config).fit(resume=True)
    left, right = checkpoint(tmp_path / "straight"), checkpoint(tmp_path / "killed")
    assert_same_tensors(left["model"], right["model"], "model ")
    assert_same_tensors(left["ema"], right["ema"], "ema ")
    assert [r["train_loss"] for r in records(tmp_path / "killed")] == [
        r["train_loss"] for r in records(tmp_path / "straight")
    ]


def test_each_rank_continues_its_own_running_loss():
    from effl_plugins.train.engine import _rank_partial

    state = {"partial_loss": 3.0, "partial_count": 8, "partials": [[3.0, 8], [5.0, 8]]}
    assert [_rank_partial(state, rank, 2) for rank in (0, 1)] == [(3.0, 8), (5.0, 8)]
    assert [_rank_partial(state, rank, 3) for rank in (0, 1, 2)] == [(8.0, 16), (0.0, 0), (0.0, 0)]  # regrouped
    assert _rank_partial({"partial_loss": 3.0, "partial_count": 8}, 0, 1) == (3.0, 8)  # saved before partials

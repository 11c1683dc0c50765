"""Defaults that fit the machine: ``--workers`` follows the CPUs this process may use (no torch warning about
too many workers), and warm-up has one default (0) on the command line and in the Python API, with a
one-line warning when it covers half the run or more."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

from effl_plugins.cli import EfflArgumentParser
from effl_plugins.commands._train_args import add_training_args, default_workers
from effl_plugins.train import TrainConfig


def parser() -> EfflArgumentParser:
    return add_training_args(EfflArgumentParser(prog="effl train"))


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 1), (3, 2), (5, 4), (64, 4)])
def test_workers_default_is_one_fewer_than_the_cpus_at_most_4(monkeypatch, cpus, workers):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert default_workers() == workers
    assert parser().parse_args([]).workers == workers


def test_workers_help_states_the_default():
    help_text = parser().format_help()
    assert "one fewer than the CPUs this process may use, at most 4" in " ".join(help_text.split())


def test_the_default_worker_count_draws_no_torch_warning():
    loader = torch.utils.data.DataLoader(list(range(4)), batch_size=2, num_workers=default_workers())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sum(len(batch) for batch in loader) == 4
    assert not [w for w in caught if "worker" in str(w.message)], [str(w.message) for w in caught]


def test_warmup_has_one_default_for_the_command_line_and_the_api():
    assert parser().parse_args([]).warmup_epochs == TrainConfig().warmup_epochs == 0
    assert "default: 0" in " ".join(parser().format_help().split())


def test_warmup_covering_half_the_run_warns_in_one_line():
    with pytest.warns(UserWarning, match=r"warmup_epochs 5 covers 1 of 1 epochs") as caught:
        TrainConfig(epochs=1, warmup_epochs=5)
    assert "\n" not in str(caught[0].message)
    with pytest.warns(UserWarning, match="covers 2 of 4 epochs"):
        TrainConfig(epochs=4, warmup_epochs=2)


@pytest.mark.parametrize(
    "settings",
    [
        {"epochs": 10, "warmup_epochs": 4},
        {"epochs": 2, "warmup_epochs": 0},
        {"epochs": 1, "warmup_epochs": 5, "sched": "none"},
    ],
)
def test_short_or_absent_warmup_does_not_warn(settings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TrainConfig(**settings)

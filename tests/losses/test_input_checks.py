"""Every built-in loss refuses an empty batch, class ids out of range and soft targets that are not
probability rows, with a ValueError naming the problem (the checks live in DistillationLoss)."""

from __future__ import annotations

import pytest
import torch

import effl_plugins as ep

from .test_common import LOSSES


def _inputs(batch=4, classes=6):
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, classes, generator=g), torch.randn(batch, classes, generator=g)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("shape", [(0, 6), (4, 0)], ids=["B=0", "K=0"])
def test_an_empty_batch_is_a_clear_error(name, shape):
    loss = ep.create_loss(name, **LOSSES[name])
    with pytest.raises(ValueError, match=r"student_logits must hold at least one sample and one class, got shape"):
        loss(torch.randn(*shape), torch.randn(*shape), torch.zeros(shape[0], dtype=torch.long))


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("bad, seen", [(6, "0..6"), (-1, "-1..3"), (100, "0..100")])
def test_class_ids_out_of_range_are_a_clear_error(name, bad, seen):
    s, t = _inputs()
    targets = torch.tensor([0, 1, 3, bad]) if bad >= 0 else torch.tensor([bad, 1, 3, 2])
    with pytest.raises(ValueError, match=rf"targets must be class ids in 0..5 \(K=6\), got values in {seen}"):
        ep.create_loss(name, **LOSSES[name])(s, t, targets)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize(
    "row, problem",
    [
        ([0.5, 0.2, 0.0, 0.0, 0.0, 0.0], "row 2 sums to 0.7 with minimum 0"),
        ([0.5, 0.5, 0.5, 0.0, 0.0, 0.0], "row 2 sums to 1.5"),
        ([1.5, -0.5, 0.0, 0.0, 0.0, 0.0], "row 2 sums to 1 with minimum -0.5"),
        ([float("nan"), 1.0, 0.0, 0.0, 0.0, 0.0], "row 2 sums to nan"),
    ],
)
def test_soft_targets_that_are_not_probability_rows_are_a_clear_error(name, row, problem):
    s, t = _inputs()
    targets = torch.full((4, 6), 1 / 6)
    targets[2] = torch.tensor(row)
    with pytest.raises(ValueError, match=rf"soft targets must be rows of probabilities .*; {problem}"):
        ep.create_loss(name, **LOSSES[name])(s, t, targets)


@pytest.mark.parametrize("name", LOSSES)
def test_valid_edge_targets_are_accepted(name):
    s, t = _inputs()
    loss = ep.create_loss(name, **LOSSES[name])
    assert torch.isfinite(loss(s, t, torch.tensor([0, 5, 5, 0]))["loss"])
    near = torch.full((4, 6), 1 / 6)
    near[0, 0] += 9e-4  # within the 1e-3 tolerance
    assert torch.isfinite(loss(s, t, near)["loss"])


def test_sixteen_bit_soft_targets_have_a_wider_tolerance():
    from effl_plugins.losses.base import check_targets, soft_target_tolerance

    assert soft_target_tolerance(torch.float32) == soft_target_tolerance(torch.float64) == 1e-3
    assert soft_target_tolerance(torch.bfloat16) == soft_target_tolerance(torch.float16) == 1e-2
    row = torch.tensor([[0.504, 0.5]])
    check_targets(row.bfloat16(), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="row 0 sums to 1.004"):
        check_targets(row, torch.zeros(1, 2))


def test_boolean_targets_are_not_class_ids():
    from effl_plugins.losses.base import check_targets

    with pytest.raises(ValueError, match="targets must be int class ids"):
        check_targets(torch.tensor([True, False]), torch.zeros(2, 3))

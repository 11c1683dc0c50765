"""The cache-against-live comparison: rounding-size perturbations of the student, and the statistics."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from effl_plugins.bench import cache_rounding


def _weights(round_: int) -> list[torch.Tensor]:
    strategy = cache_rounding.perturbed_distill(round_)(model="test_resnet", teacher="test_resnet", device="cpu")
    return [p.detach().clone() for p in strategy.build_model("test_resnet", 10, seed_offset=1).parameters()]


def test_a_round_scales_the_students_initial_weights_by_one_plus_a_millionth_per_round():
    base, third = _weights(0), _weights(3)
    assert len(base) == len(third)
    for b, t in zip(base, third):
        torch.testing.assert_close(t, b * (1 + 3e-6), rtol=0, atol=0)
    assert any(not torch.equal(b, t) for b, t in zip(base, third))


def test_the_teacher_is_built_as_it_is_without_rounds():
    strategy = cache_rounding.perturbed_distill(4)(model="test_resnet", teacher="test_resnet", device="cpu")
    plain = cache_rounding.perturbed_distill(0)(model="test_resnet", teacher="test_resnet", device="cpu")
    for a, b in zip(
        strategy.build_model("test_resnet", 10).parameters(), plain.build_model("test_resnet", 10).parameters()
    ):
        assert torch.equal(a, b)


def test_compare_gives_each_sources_means_and_welchs_t():
    accuracy = {
        ("live", 0): [0.99, 0.98],
        ("live", 1): [0.97, 0.98],
        ("cache", 0): [0.98, 0.98],
        ("cache", 1): [0.96, 0.97],
    }
    rows = [
        {"seed": seed, "round": r, "source": source, "accuracy": a}
        for (source, seed), values in accuracy.items()
        for r, a in enumerate(values)
    ]
    summary = cache_rounding.compare(rows)
    assert summary["live"]["seed_means"] == [98.5, 97.5] and summary["cache"]["seed_means"] == [98.0, 96.5]
    assert summary["live"]["mean"] == 98.0 and summary["cache"]["runs"] == 4
    expected = stats.ttest_ind([99, 98, 97, 98], [98, 98, 96, 97], equal_var=False)
    assert summary["p_value"] == pytest.approx(round(float(expected.pvalue), 3))

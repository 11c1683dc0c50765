"""Pseudo-label selection: confidence thresholding and Noisy Student class balancing, exactly."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from effl_plugins.strategies.selftrain.pseudo_label import select_pseudo_labels
from effl_plugins.strategies.selftrain.selection import balance_classes, confidence_filter, pseudo_targets

PROBS = torch.tensor(
    [
        [0.90, 0.05, 0.05],  # 0: class 0, conf 0.90
        [0.50, 0.30, 0.20],  # 1: class 0, conf 0.50
        [0.10, 0.80, 0.10],  # 2: class 1, conf 0.80
        [0.70, 0.20, 0.10],  # 3: class 0, conf 0.70
        [0.20, 0.20, 0.60],  # 4: class 2, conf 0.60
        [0.95, 0.03, 0.02],  # 5: class 0, conf 0.95
        [0.05, 0.60, 0.35],  # 6: class 1, conf 0.60
    ]
)


def test_threshold_keeps_rows_at_or_above_the_confidence():
    assert confidence_filter(PROBS, 0.0).tolist() == list(range(7))
    assert confidence_filter(PROBS, 0.7).tolist() == [0, 2, 3, 5]
    assert confidence_filter(PROBS, 0.6).tolist() == [0, 2, 3, 4, 5, 6]  # inclusive
    assert confidence_filter(PROBS, 0.951).tolist() == []
    assert confidence_filter(PROBS, 1.0).tolist() == []


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", True])
def test_threshold_outside_0_1_is_rejected_with_its_value(bad):
    with pytest.raises(ValueError, match=r"threshold must be a confidence in \[0, 1\], got"):
        confidence_filter(PROBS, bad)


def test_balancing_keeps_the_most_confident_of_common_classes_and_duplicates_rare_ones():
    # class 0: 5 (0.95), 0 (0.90), 3 (0.70), 1 (0.50); class 1: 2 (0.80), 6 (0.60); class 2: 4
    assert balance_classes(PROBS, 3).tolist() == [5, 0, 3, 2, 6, 2, 4, 4, 4]
    assert balance_classes(PROBS, 1).tolist() == [5, 2, 4]
    assert balance_classes(PROBS, 5).tolist() == [5, 0, 3, 1, 5, 2, 6, 2, 6, 2, 4, 4, 4, 4, 4]


def test_balancing_after_thresholding_only_sees_the_kept_rows():
    assert select_pseudo_labels(PROBS, threshold=0.7, balance=2).tolist() == [5, 0, 2, 2]
    assert select_pseudo_labels(PROBS, threshold=0.7).tolist() == [0, 2, 3, 5]


def test_ties_in_confidence_keep_index_order():
    probs = torch.tensor([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4]])
    assert balance_classes(probs, 2).tolist() == [0, 1]
    assert balance_classes(probs, 4).tolist() == [0, 1, 2, 0]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, None])
def test_balance_quota_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="quota"):
        balance_classes(PROBS, bad)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 6), quota=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_balancing_properties(n, k, quota, seed):
    probs = torch.rand(n, k, generator=torch.Generator().manual_seed(seed)).softmax(1)
    before = probs.clone()
    chosen = balance_classes(probs, quota)
    predicted, confidence = probs.argmax(1), probs.max(1).values
    assert torch.equal(probs, before)
    for cls in range(k):
        members = (predicted == cls).nonzero().flatten()
        picked = chosen[predicted[chosen] == cls]
        if len(members) == 0:
            assert len(picked) == 0
            continue
        assert len(picked) == quota
        ranked = members[torch.argsort(-confidence[members], stable=True)]
        if len(members) >= quota:  # top-K, no duplicates
            assert picked.tolist() == ranked[:quota].tolist()
        else:  # every member, the most confident duplicated first
            counts = torch.bincount(picked, minlength=n)[ranked]
            assert counts.min() >= 1 and (counts[:-1] >= counts[1:]).all() and counts.max() - counts.min() <= 1


def test_hard_and_soft_targets():
    assert pseudo_targets(PROBS, soft=False)[:3].tolist() == [[1, 0, 0], [1, 0, 0], [0, 1, 0]]
    soft = pseudo_targets(PROBS, soft=True)
    assert torch.equal(soft, PROBS) and soft.data_ptr() != PROBS.data_ptr()

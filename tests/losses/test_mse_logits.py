"""mse_logits: mean squared error between logits (Kim et al. 2021)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import effl_plugins as ep

from ._reference import assert_matches, ce64, inputs


def reference(s, t, y, alpha):
    mse = ((s - t.double()) ** 2).sum() / s.numel()
    return mse if y is None else alpha * mse + (1 - alpha) * ce64(s, y)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    alpha=st.floats(0, 1),
    batch=st.integers(1, 12),
    classes=st.integers(1, 30),
    labelled=st.booleans(),
)
def test_value_and_gradient_match_float64_reference(seed, alpha, batch, classes, labelled):
    s, s64, t, y = inputs(seed, batch, classes)
    y = y if labelled else None
    out = ep.create_loss("mse_logits", alpha=alpha)(s, t, y)
    assert_matches(out["loss"], reference(s64, t, y, alpha), [(s, s64)])


def test_default_is_pure_logit_matching():
    s, _, t, y = inputs(1, 4, 5)
    out = ep.create_loss("mse_logits")(s, t, y)
    assert set(out) == {"loss", "mse", "ce"} and out["loss"].item() == out["mse"].item()


@pytest.mark.parametrize("alpha", [-0.5, 1.01, True, None])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        ep.create_loss("mse_logits", alpha=alpha)

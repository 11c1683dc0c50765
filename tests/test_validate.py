"""The shared argument checks: what passes, what is refused, and what the message says."""

from __future__ import annotations

import math

import pytest

from effl_plugins import _validate as v


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: v.positive(0, "temperature"), "temperature must be a finite number > 0, got 0"),
        (lambda: v.positive(math.inf, "temperature"), "temperature must be a finite number > 0, got inf"),
        (lambda: v.positive(math.nan, "temperature"), "temperature must be a finite number > 0, got nan"),
        (lambda: v.positive(True, "temperature"), "temperature must be a finite number > 0, got True"),
        (lambda: v.non_negative(-1, "ce_weight"), "ce_weight must be a finite number >= 0, got -1"),
        (lambda: v.non_negative("1", "ce_weight"), "ce_weight must be a finite number >= 0, got '1'"),
        (lambda: v.fraction(1.5, "alpha"), "alpha must be in [0, 1], got 1.5"),
        (lambda: v.fraction(1, "momentum", below_one=True), "momentum must be in [0, 1), got 1"),
        (lambda: v.probability(-0.1), "p must be a probability in [0, 1], got -0.1"),
        (lambda: v.number(0, "fraction", low=0, high=1, low_open=True), "fraction must be in (0, 1], got 0"),
        (
            lambda: v.integer(0, "epochs", low=1, note="passes over the data"),
            "epochs must be an integer >= 1 (passes over the data), got 0",
        ),
        (lambda: v.integer(2.0, "epochs", low=1), "epochs must be an integer >= 1, got 2.0"),
        (lambda: v.integer(False, "epochs", low=0), "epochs must be an integer >= 0, got False"),
        (lambda: v.integer(0, "balance", low=1, optional=True), "balance must be None or an integer >= 1, got 0"),
        (lambda: v.choice("z", "axis", ("x", "y")), "axis must be one of ('x', 'y'), got 'z'"),
        (lambda: v.choice(True, "sign", (1, -1)), "sign must be one of (1, -1), got True"),
    ],
)
def test_refusals_name_the_argument_the_value_and_what_is_allowed(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value) == message


def test_accepted_values_come_back_normalised():
    assert v.positive(2, "t") == 2.0 and isinstance(v.positive(2, "t"), float)
    assert v.fraction(1, "alpha") == 1.0 and v.probability(0) == 0.0
    assert v.integer(3, "n", low=1, high=3) == 3 and v.integer(None, "n", optional=True) is None
    assert v.choice(-1, "sign", (1, -1)) == -1
    assert v.is_number(1) and v.is_number(0.5) and not v.is_number(True) and not v.is_number("1")

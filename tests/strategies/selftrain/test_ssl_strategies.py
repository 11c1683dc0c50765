"""FlexMatch, FreeMatch, SoftMatch and UDA are registered strategies with the papers' defaults; bad
arguments are ValueErrors naming the argument."""

from __future__ import annotations

import pytest

import effl_plugins as ep


def test_registered_with_the_papers_defaults():
    assert {"flexmatch", "freematch", "softmatch", "uda"} <= set(ep.list_strategies())
    flex = ep.create_strategy("flexmatch")
    assert (flex.threshold, flex.warmup, flex.mu, flex.lambda_u) == (0.95, True, 7, 1.0)
    free = ep.create_strategy("freematch")
    assert (free.momentum, free.lambda_f, free.mu) == (0.999, 0.001, 7)
    soft = ep.create_strategy("softmatch")
    assert (soft.momentum, soft.n_sigma, soft.lambda_max, soft.alignment) == (0.999, 2.0, 1.0, True)
    uda = ep.create_strategy("uda")
    assert (uda.temperature, uda.threshold, uda.tsa) == (0.4, 0.8, "none")


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("flexmatch", {"threshold": 1.5}, "threshold must be in"),
        ("flexmatch", {"warmup": "yes"}, "warmup must be True or False"),
        ("freematch", {"lambda_f": -0.1}, "lambda_f must be a finite number >= 0, got -0.1"),
        ("freematch", {"momentum": 1.5}, "momentum must be in"),
        ("softmatch", {"n_sigma": 0}, "n_sigma must be a finite number > 0"),
        ("softmatch", {"alignment": 1}, "alignment must be True or False"),
        ("uda", {"tsa": "cosine"}, "tsa must be one of none, linear, log, exp, got 'cosine'"),
        ("uda", {"temperature": -1.0}, "temperature must be a finite number > 0"),
        ("uda", {"mu": 0}, "mu"),
    ],
)
def test_bad_arguments(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ep.create_strategy(name, **kwargs)


@pytest.mark.parametrize("name", ["freematch", "softmatch"])
def test_no_fixed_threshold(name):
    with pytest.raises(TypeError, match="threshold"):
        ep.create_strategy(name, threshold=0.9)

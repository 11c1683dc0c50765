"""Timing harness of the benchmark suite (kept in ``effl_plugins.bench.timing`` so ``effl bench`` finds it)."""

from effl_plugins.bench.timing import *  # noqa: F401,F403
from effl_plugins.bench.timing import __all__  # noqa: F401

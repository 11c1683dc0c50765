"""Strategies: how labels, unlabeled data and teachers are used. Build them with
``effl_plugins.create_strategy``; each has ``run(data, *, out_dir=None, resume=False) -> dict``."""

from .base import Strategy

__all__ = ["Strategy"]
